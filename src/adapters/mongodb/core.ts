import { Data, Duration, Effect, Schedule } from "effect"
import { type ClientSession, type Collection, type Document, MongoError, type MongoClient, MongoNetworkError, MongoServerError, MongoServerSelectionError } from "mongodb"
import { cappedExponential } from "../../kernel/backoff.js"
import { reasonOf } from "../../kernel/errors.js"
import { Conflict, InProgress, type KeyReused, NotFound, Unavailable, type OperationError } from "../../protocol/errors.js"
import { encodeRecorded, firstRun, recordedOf, replayOf } from "../once.js"
import { completeRow, type CoreCall, type NamasteCoreService, type Once, type Recorded, type Row, type StoreObjectKinds, type WriteKind } from "../port.js"
import type { Template } from "../../templates/schema.js"
import { driverCall } from "../driver-call.js"
import { connectMongo, type MongoDbConfig } from "./client.js"
import { bindPipeline, type NamedPipeline } from "./pipelines.js"

// Server codes that mean "try again": shutdown, stepdown, not primary, timeouts, network.
const TRANSIENT_CODES = new Set([6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436])

const isTransientTransaction = (error: unknown) =>
  error instanceof MongoError && (error.hasErrorLabel("TransientTransactionError") || error.code === 112 || error.code === 251)

/**
 * MongoDB errors by class: network, server selection, stepdown, a retryable label -> transient;
 * duplicate key -> conflict. Anything else (a command the server refuses, a malformed pipeline)
 * is a deployment defect: made a defect on purpose, so the message is dead-lettered and logged.
 */
export const classify = (error: unknown): Effect.Effect<never, OperationError> => {
  if (error instanceof MongoServerError && error.code === 11000) return Effect.fail(new Conflict({ message: "duplicate key" }))
  // jongodb (the stand-in server tests use) keeps a pooled session's aborted transaction open and
  // refuses the next one on that session; real MongoDB aborts the older one by itself. Transient:
  // the operation runs again on another session.
  if (isTransientTransaction(error) || (error instanceof MongoServerError && error.message.includes("transaction already in progress"))) {
    const conflict = new Unavailable({ message: `mongodb: ${(error as Error).message}` })
    transactionConflicts.add(conflict)
    return Effect.fail(conflict)
  }
  if (
    error instanceof MongoError &&
    // By class, not name: a cleared pool (MongoPoolClearedError, PoolClearedOnNetworkError) and a
    // timeout are network errors with names of their own.
    (error instanceof MongoNetworkError || error instanceof MongoServerSelectionError ||
      (typeof error.code === "number" && TRANSIENT_CODES.has(error.code)) ||
      error.hasErrorLabel("RetryableWriteError") || error.hasErrorLabel("TransientTransactionError"))
  ) {
    return Effect.fail(new Unavailable({ message: `mongodb: ${error.message}` }))
  }
  return Effect.die(error)
}

/** Transient failures that are a transaction losing to another: the write runs again, not reported. */
const transactionConflicts = new WeakSet<Unavailable>()

const attempt = <A>(operation: () => Promise<A>) => driverCall(operation).pipe(Effect.catchAll((failed) => classify(failed.cause)))

/** Documents go out as the template's records: no _id (the template's key identifies a record). */
const toRow = (template: Template, document: Document): Row => {
  const { _id, ...rest } = document
  return completeRow(template, rest)
}

/** BEDS's idempotency records on a MongoDB store. */
const IDEMPOTENCY = "beds_idempotency"

/** The standard operations use a collection; named reads run a pipeline (a file of the DBA's). */
export const mongoDbObjectKinds: StoreObjectKinds = { fetch: "collection", write: "collection", named: "pipeline" }

/** BEDS's own objects on a MongoDB store (schema/beds/mongodb). */
export const mongoDbOwnObjects = [{ object: IDEMPOTENCY, kind: "collection" }] as const

/** How long a write waits for another run of its scope (a transaction on the same record) before InProgress. */
const CONTENDED_WAIT_MS = 10_000

interface IdempotencyRecord {
  readonly _id: string
  readonly fingerprint: string
  readonly outcome: string | null
  readonly createdAt: Date
  readonly expiresAt: Date
}

/** The transaction of one write lost to another on the same documents, or must be run again. */
class Contended extends Data.TaggedError("Contended") {}
/** A write whose caller error aborted its transaction; the error is then recorded alone. */
class Aborted extends Data.TaggedError("Aborted")<{ readonly recorded: Recorded }> {}


/**
 * The MongoDB NamasteCore: a named collection (with the DBA's unique index on the key) for the
 * standard operations; named reads run the DBA's aggregation pipelines with request values bound
 * into their declared slots. Writes are exactly once: one transaction inserts the scope's record
 * in `beds_idempotency` (a duplicate key means a repeat: its recorded outcome is returned), runs
 * the write and records its outcome; they commit together. Transactions need a replica set (a
 * single-node one is enough) or a sharded cluster: the adapter checks when it is built and refuses
 * to serve writes without them.
 */
export const makeMongoDbCore = (
  config: MongoDbConfig,
  options: { readonly appName: string; readonly timeoutMs: number; readonly pipelines: ReadonlyMap<string, NamedPipeline> }
) =>
  Effect.gen(function*() {
    const client: MongoClient = yield* connectMongo(config, options).pipe(Effect.mapError((error) => new Unavailable({ message: error.reason })))
    const db = client.db(config.database)
    const idempotency = db.collection<IdempotencyRecord>(IDEMPOTENCY)
    yield* transactionsWork(client, idempotency)
    const locking = (template: Template) => template.capabilities.optimistic_locking
    const keyFilter = (call: CoreCall) => ({ [call.template.key]: call.values[call.template.key] })
    const staleOrMissing = (call: CoreCall, session: ClientSession): Effect.Effect<never, OperationError> =>
      Effect.flatMap(attempt(() => db.collection(call.object).findOne(keyFilter(call), { session })), (found): Effect.Effect<never, OperationError> =>
        found !== null
          ? Effect.fail(new Conflict({ message: "stale version" }))
          : Effect.fail(new NotFound({ message: `no ${call.template.name} with that ${call.template.key}` })))
    const versioned = (call: CoreCall) =>
      locking(call.template) && call.values["version"] !== undefined ? { ...keyFilter(call), version: call.values["version"] } : keyFilter(call)

    /** The write itself, in the session's transaction. */
    const mutate = (call: CoreCall, kind: WriteKind, session: ClientSession): Effect.Effect<unknown, OperationError> => {
      switch (kind) {
        case "create": {
          const document: Record<string, unknown> = { ...call.values, ...(locking(call.template) ? { version: 1 } : {}) }
          return attempt(() => db.collection(call.object).insertOne({ ...document }, { session })).pipe(Effect.as(completeRow(call.template, document)))
        }
        case "update": {
          const fields = Object.fromEntries(Object.entries(call.values).filter(([field]) => field !== call.template.key && field !== "version"))
          const update: Document = {
            ...(Object.keys(fields).length > 0 ? { $set: fields } : {}),
            ...(locking(call.template) ? { $inc: { version: 1 } } : {})
          }
          return attempt(() => db.collection(call.object).findOneAndUpdate(versioned(call), update, { returnDocument: "after", session })).pipe(
            Effect.flatMap((document) => document === null ? staleOrMissing(call, session) : Effect.succeed(toRow(call.template, document)))
          )
        }
        // deleteOne, not findOneAndDelete: a delete answers with the key on every adapter.
        case "delete":
          return attempt(() => db.collection(call.object).deleteOne(versioned(call), { session })).pipe(
            Effect.flatMap((result) => result.deletedCount === 0 ? staleOrMissing(call, session) : Effect.succeed(keyFilter(call)))
          )
        case "named":
          // Refused when the template loads (named writes are served on mariadb only): a defect here.
          return Effect.die(new Error(`named writes are not supported on mongodb (${call.template.name})`))
      }
    }

    /** A session for one transaction, ended with the scope (an open transaction is aborted first). */
    const session = Effect.acquireRelease(
      Effect.sync(() => client.startSession()),
      (opened) => Effect.promise(() => (opened.inTransaction() ? opened.abortTransaction() : Promise.resolve()).catch(() => undefined).then(() => opened.endSession()))
    )
    const found = (scope: string) =>
      attempt(() => idempotency.findOne({ _id: scope })).pipe(
        Effect.flatMap((record) =>
          record === null ? Effect.fail(new Contended()) : Effect.succeed({ fingerprint: record.fingerprint, outcome: record.outcome }))
      )
    const newRecord = (once: Once, outcome: string | null): IdempotencyRecord => {
      const now = Date.now()
      return { _id: once.scope, fingerprint: once.fingerprint, outcome, createdAt: new Date(now), expiresAt: new Date(now + once.retentionS * 1000) }
    }
    /** Inserts the scope's record; a duplicate key is a repeat (Claimed), a write conflict is Contended. */
    const claim = (once: Once, outcome: string | null, opened?: ClientSession) =>
      driverCall(() => idempotency.insertOne(newRecord(once, outcome), opened === undefined ? {} : { session: opened })).pipe(
        Effect.catchAll(({ cause }): Effect.Effect<never, OperationError | Claimed | Contended> =>
          cause instanceof MongoServerError && cause.code === 11000
            ? Effect.fail(new Claimed())
            : isTransientTransaction(cause) ? Effect.fail(new Contended()) : classify(cause))
      )

    /** One attempt: record, write and outcome in one transaction. */
    const once = (call: CoreCall, kind: WriteKind, scope: Once, before: string | undefined) =>
      Effect.scoped(Effect.gen(function*() {
        const opened = yield* session
        opened.startTransaction({ readConcern: { level: "snapshot" }, writeConcern: { w: "majority" } })
        yield* claim(scope, null, opened)
        const key = call.values[call.template.key]
        const beforeRow = before === undefined || key === undefined
          ? null
          : yield* attempt(() => db.collection(before).findOne({ [call.template.key]: key }, { session: opened })).pipe(
            Effect.map((document) => (document === null ? null : toRow(call.template, document)))
          )
        const recorded = yield* Effect.exit(mutate(call, kind, opened)).pipe(Effect.flatMap(recordedOf))
        if (!recorded.ok) return yield* Effect.fail(new Aborted({ recorded }))
        yield* attempt(() => idempotency.updateOne({ _id: scope.scope }, { $set: { outcome: encodeRecorded(recorded) } }, { session: opened }))
        yield* driverCall(() => opened.commitTransaction()).pipe(
          Effect.catchAll(({ cause }): Effect.Effect<never, OperationError | Contended> =>
            isTransientTransaction(cause) ? Effect.fail(new Contended()) : classify(cause))
        )
        return firstRun(recorded, beforeRow)
      })).pipe(
        // A write conflict inside the transaction shows as the driver's error on the write: run it again.
        Effect.catchIf((error) => error._tag === "Unavailable" && transactionConflicts.has(error), () => Effect.fail(new Contended()))
      )

    const write = (call: CoreCall, kind: WriteKind, scope: Once, options: { readonly before: string | undefined }) =>
      once(call, kind, scope, options.before).pipe(
        // Another transaction holds the record: wait (with the one backoff) until it commits or aborts.
        Effect.retry({ schedule: cappedExponential(10, 250).pipe(Schedule.upTo(Duration.millis(CONTENDED_WAIT_MS))), while: (error) => error._tag === "Contended" }),
        Effect.catchTags({
          Claimed: () => Effect.flatMap(found(scope.scope), (record) => replayOf(scope, record)),
          // The caller error is recorded on its own (its write was aborted); a record already there wins.
          Aborted: ({ recorded }) =>
            claim(scope, encodeRecorded(recorded)).pipe(
              Effect.as(firstRun(recorded, null)),
              Effect.catchTag("Claimed", () => Effect.flatMap(found(scope.scope), (record) => replayOf(scope, record)))
            ),
          Contended: () =>
            Effect.fail(new InProgress({ message: `the first request with this idempotencyKey is still running; resend for its outcome` }))
        }),
        Effect.catchTag("Contended", () => Effect.fail(new InProgress({ message: "the idempotency record is being written; resend for its outcome" }))),
        Effect.catchAll(onlyTransient)
      )

    const service: NamasteCoreService = {
      fetchRecords: (call) =>
        attempt(() => db.collection(call.object).find(keyFilter(call)).limit(2).toArray()).pipe(
          Effect.map((documents) => documents.map((document) => toRow(call.template, document)))
        ),
      readNamed: (call) => {
        const pipeline = options.pipelines.get(call.object)
        if (pipeline === undefined) return Effect.die(new Error(`pipeline ${call.object} is not loaded`))
        return attempt(() => db.collection(pipeline.collection).aggregate(bindPipeline(pipeline, call.values)).toArray()).pipe(
          Effect.map((documents) => documents.map((document) => toRow(call.template, document)))
        )
      },
      write,
      // Also swept here: a server's TTL index (schema/beds/mongodb) may run late, and not every server has one.
      sweepExpired: (limit) =>
        attempt(() => idempotency.find({ expiresAt: { $lt: new Date() } }, { projection: { _id: 1 } }).limit(limit).toArray()).pipe(
          Effect.flatMap((expired) =>
            expired.length === 0
              ? Effect.succeed(0)
              : attempt(() => idempotency.deleteMany({ _id: { $in: expired.map((record) => record._id) }, expiresAt: { $lt: new Date() } })).pipe(
                Effect.map((result) => result.deletedCount)
              )),
          Effect.catchAll((error) => error._tag === "Unavailable" ? Effect.fail(error) : Effect.die(error))
        ),
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

/** A repeat: the scope's record exists (committed). */
class Claimed extends Data.TaggedError("Claimed") {}

/** What a write may fail with: it may not have run, or must not run; anything else is a defect here. */
const onlyTransient = (error: OperationError): Effect.Effect<never, Unavailable | KeyReused | InProgress> =>
  error._tag === "Unavailable" || error._tag === "KeyReused" || error._tag === "InProgress"
    ? Effect.fail(error)
    : Effect.die(new Error(`mongodb: a write's bookkeeping failed with ${error._tag}: ${error.message}`))

/**
 * Whether the server runs transactions: one read in a transaction, committed. A standalone server
 * refuses (only replica sets and sharded clusters have them), and then the adapter is unavailable
 * with the reason, since its writes could not be exactly once.
 */
const transactionsWork = (client: MongoClient, idempotency: Collection<IdempotencyRecord>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => client.startSession()),
    (session) =>
      driverCall(async () => {
        session.startTransaction()
        await idempotency.findOne({ _id: "beds-transaction-check" }, { session })
        await session.commitTransaction()
      }),
    (session) => Effect.promise(() => session.endSession())
  ).pipe(
    Effect.mapError(({ cause }) =>
      new Unavailable({
        message: `mongodb: transactions are not available (${reasonOf(cause)}); BEDS's exactly-once writes need a replica set ` +
          "(a single-node one is enough: mongod --replSet rs0, then rs.initiate()) or a sharded cluster"
      })
    )
  )
