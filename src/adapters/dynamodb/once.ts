import {
  type DynamoDBClient,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  TransactWriteItemsCommand,
  type TransactWriteItem,
  UpdateItemCommand
} from "@aws-sdk/client-dynamodb"
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb"
import { Data, Duration, Effect, Option, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import { cappedExponential } from "../../kernel/backoff.js"
import { Conflict, InProgress, type KeyReused, NotFound, type OperationError, type Unavailable } from "../../protocol/errors.js"
import { driverCall } from "../driver-call.js"
import { encodeRecorded, firstRun, recordedError, recordedOf, replayOf } from "../once.js"
import { completeRow, type CoreCall, type Once, type Recorded, type Row, type Written } from "../port.js"
import { ConditionFailed, type ItemWrite, send, unconditional } from "./send.js"

/** BEDS's idempotency records on a DynamoDB store (schema/beds/dynamodb): partition key `scope`. */
export const IDEMPOTENCY = "beds_idempotency"
/** How long a claim protects a run that has not recorded its outcome; past it, a repeat takes over. */
const LEASE_MS = 30_000
/** How long a write waits for another run of its scope before it answers InProgress. */
const CONTENDED_WAIT_MS = 10_000

/** What the adapter hands over for one write. */
export interface DynamoWrite {
  readonly call: CoreCall
  readonly write: ItemWrite
  /** The record before the write, for the journal (null when not asked or none). */
  readonly before: Effect.Effect<Row | null, OperationError>
  /** Runs the write on its own; the record after it (delete: the key). */
  readonly run: (write: ItemWrite) => Effect.Effect<Row, OperationError>
  readonly current: () => Effect.Effect<Row | undefined, OperationError>
}

/** Another run holds the scope (its claim, or a conflicting transaction): wait and look again. */
class Contended extends Data.TaggedError("Contended") {}
/** The scope has a record already: a repeat. */
class Found extends Data.TaggedError("Found")<{ readonly fingerprint: string; readonly outcome: string | null }> {}

interface IdempotencyItem {
  readonly scope: string
  readonly fingerprint: string
  readonly state: "running" | "done"
  readonly outcome?: string
  readonly owner?: string
  readonly leaseUntil?: number
  /** Unix seconds: DynamoDB's TTL attribute. */
  readonly expiresAt: number
}

/**
 * Exactly-once writes on DynamoDB, in two modes, chosen when the adapter is built:
 *
 * - transactional (DynamoDB itself): one TransactWriteItems puts the scope's record (only if it does
 *   not exist) and does the write; both happen or neither does. A repeat finds the record.
 * - conditional (an endpoint without transactions, such as dynalite): a claim on the scope (a
 *   conditional put, leased for 30 s) is taken first, the write is made, and the outcome recorded.
 *   A repeat that finds the claim waits for the outcome. A run that died between its write and its
 *   record leaves a claim whose lease runs out; the repeat that takes it over first checks whether
 *   the write is already there (a created item with the same values, an update's version already
 *   one higher with its values, a deleted item gone) and then records that instead of writing
 *   again. What it cannot tell apart: another write changing the same item in those 30 s.
 */
export const makeDynamoOnce = (client: DynamoDBClient, options: { readonly transactional: boolean | undefined }) =>
  Effect.gen(function*() {
    const transactional = options.transactional ?? (yield* supportsTransactions(client))
    const idemKey = (scope: string) => marshall({ scope })
    const read = (scope: string) =>
      unconditional(send((signal) => client.send(new GetItemCommand({ TableName: IDEMPOTENCY, Key: idemKey(scope), ConsistentRead: true }), { abortSignal: signal })))
        .pipe(Effect.map((out) => (out.Item === undefined ? undefined : unmarshall(out.Item) as IdempotencyItem)))
    /** A scope that has a record: Found when it is done or another request's, Contended while its run goes on. */
    const judge = (once: Once) =>
      Effect.flatMap(read(once.scope), (item): Effect.Effect<never, Found | Contended> =>
        item === undefined
          ? Effect.fail(new Contended())
          : item.fingerprint !== once.fingerprint || item.state === "done"
          ? Effect.fail(new Found({ fingerprint: item.fingerprint, outcome: item.outcome ?? null }))
          : Effect.fail(new Contended()))
    const expiresAt = (once: Once) => Math.floor(Date.now() / 1000) + once.retentionS
    const waitWhileContended = <A, E>(effect: Effect.Effect<A, E | Contended>) =>
      effect.pipe(
        Effect.retry({
          schedule: cappedExponential(20, 500).pipe(Schedule.upTo(Duration.millis(CONTENDED_WAIT_MS))),
          while: (error) => (error as { _tag?: string })._tag === "Contended"
        }),
        Effect.catchIf((error): error is Contended => (error as { _tag?: string })._tag === "Contended", () =>
          Effect.fail(new InProgress({ message: "the first request with this idempotencyKey is still running; resend for its outcome" })))
      )
    const settle = (once: Once) => <A>(effect: Effect.Effect<A, OperationError | Found | Contended>) =>
      waitWhileContended(effect).pipe(
        Effect.catchTag("Found", (found) => replayOf(once, found)),
        Effect.catchAll(onlyTransient)
      ) as Effect.Effect<A | Written, Unavailable | KeyReused | InProgress>

    // ---- conditional mode

    const claim = (once: Once, owner: string) =>
      send((signal) =>
        client.send(new PutItemCommand({
          TableName: IDEMPOTENCY,
          Item: marshall({
            scope: once.scope,
            fingerprint: once.fingerprint,
            state: "running",
            owner,
            leaseUntil: Date.now() + LEASE_MS,
            expiresAt: expiresAt(once)
          } satisfies IdempotencyItem),
          // New, or a run whose lease ran out (the same request: a repeat takes it over).
          ConditionExpression: "attribute_not_exists(#s) OR (#st = :running AND #lease < :now AND #fp = :fp)",
          ExpressionAttributeNames: { "#s": "scope", "#st": "state", "#lease": "leaseUntil", "#fp": "fingerprint" },
          ExpressionAttributeValues: marshall({ ":running": "running", ":now": Date.now(), ":fp": once.fingerprint }),
          ReturnValues: "ALL_OLD"
        }), { abortSignal: signal })
      ).pipe(
        Effect.map((out) => ({ takeover: out.Attributes !== undefined })),
        Effect.catchIf((error): error is ConditionFailed => error instanceof ConditionFailed, () => judge(once))
      )
    /** Only the claim's owner records (a run that lost its lease to a takeover leaves it to the new owner). */
    const ownerUpdate = (once: Once, owner: string, update: string, values: Record<string, unknown>) =>
      send((signal) =>
        client.send(new UpdateItemCommand({
          TableName: IDEMPOTENCY,
          Key: idemKey(once.scope),
          UpdateExpression: update,
          ConditionExpression: "#owner = :owner",
          ExpressionAttributeNames: { "#owner": "owner", "#st": "state", "#o": "outcome", "#lease": "leaseUntil" },
          ExpressionAttributeValues: marshall({ ":owner": owner, ...values })
        }), { abortSignal: signal })
      ).pipe(Effect.catchIf((error): error is ConditionFailed => error instanceof ConditionFailed, () => Effect.void), Effect.asVoid)
    const finish = (once: Once, owner: string, recorded: Recorded) =>
      ownerUpdate(once, owner, "SET #st = :done, #o = :outcome REMOVE #lease", { ":done": "done", ":outcome": encodeRecorded(recorded) })
    /** After a failure that may have left the write done: the next repeat takes over at once and checks. */
    const endLease = (once: Once, owner: string) => ownerUpdate(once, owner, "SET #lease = :zero", { ":zero": 0 })

    const conditional = (once: Once, w: DynamoWrite) =>
      settle(once)(Effect.gen(function*() {
        const owner = randomUUID()
        const { takeover } = yield* claim(once, owner)
        const before = yield* w.before
        const earlier = takeover ? yield* alreadyWritten(w) : Option.none()
        const recorded = Option.isSome(earlier) ? earlier.value : yield* Effect.exit(w.run(w.write)).pipe(
          Effect.flatMap(recordedOf),
          Effect.tapError(() => endLease(once, owner).pipe(Effect.ignore))
        )
        yield* finish(once, owner, recorded)
        return firstRun(recorded, before)
      }))

    // ---- transactional mode

    const transact = (once: Once, w: DynamoWrite) =>
      settle(once)(Effect.gen(function*() {
        const before = yield* w.before
        const expected = yield* outcomeOf(w)
        if (!expected.ok) return yield* record(once, expected)
        const record_: TransactWriteItem = {
          Put: {
            TableName: IDEMPOTENCY,
            Item: marshall({ scope: once.scope, fingerprint: once.fingerprint, state: "done", outcome: encodeRecorded(expected), expiresAt: expiresAt(once) } satisfies IdempotencyItem),
            ConditionExpression: "attribute_not_exists(#s)",
            ExpressionAttributeNames: { "#s": "scope" }
          }
        }
        const common = {
          TableName: w.write.table,
          ConditionExpression: w.write.condition,
          ExpressionAttributeNames: w.write.names,
          ...(w.write.values === undefined ? {} : { ExpressionAttributeValues: marshall(w.write.values, { removeUndefinedValues: true }) })
        }
        const item: TransactWriteItem = w.write.kind === "create"
          ? { Put: { ...common, Item: marshall(w.write.item!, { removeUndefinedValues: true }) } }
          : w.write.kind === "update"
          ? { Update: { ...common, Key: marshall(w.write.key), UpdateExpression: w.write.update! } }
          : { Delete: { ...common, Key: marshall(w.write.key) } }
        return yield* driverCall((signal) => client.send(new TransactWriteItemsCommand({ TransactItems: [record_, item] }), { abortSignal: signal })).pipe(
          Effect.as(firstRun(expected, before)),
          Effect.catchAll(({ cause }): Effect.Effect<never, OperationError | Found | Contended | WriteRefused> => {
            const reasons = (cause as { CancellationReasons?: ReadonlyArray<{ Code?: string }> }).CancellationReasons
            if ((cause as { name?: string }).name !== "TransactionCanceledException" || reasons === undefined) {
              return unconditional(send(() => Promise.reject(cause)))
            }
            if (reasons[0]?.Code === "ConditionalCheckFailed") return judge(once)
            if (reasons[1]?.Code === "ConditionalCheckFailed") return Effect.fail(new WriteRefused())
            return Effect.fail(new Contended())
          }),
          Effect.catchTag("WriteRefused", () => Effect.flatMap(refusal(w), (refused) => record(once, refused)))
        )
      }))
    /** A caller error's outcome recorded alone (nothing was written): a record already there wins. */
    const record = (once: Once, recorded: Recorded) =>
      send((signal) =>
        client.send(new PutItemCommand({
          TableName: IDEMPOTENCY,
          Item: marshall({ scope: once.scope, fingerprint: once.fingerprint, state: "done", outcome: encodeRecorded(recorded), expiresAt: expiresAt(once) } satisfies IdempotencyItem),
          ConditionExpression: "attribute_not_exists(#s)",
          ExpressionAttributeNames: { "#s": "scope" }
        }), { abortSignal: signal })
      ).pipe(
        Effect.as(firstRun(recorded, null)),
        Effect.catchIf((error): error is ConditionFailed => error instanceof ConditionFailed, () => judge(once))
      )

    return {
      mode: transactional ? "transactional" as const : "conditional" as const,
      write: (once: Once, w: DynamoWrite): Effect.Effect<Written, Unavailable | KeyReused | InProgress> =>
        (transactional ? transact(once, w) : conditional(once, w)) as Effect.Effect<Written, Unavailable | KeyReused | InProgress>,
      /** Expired records are removed by DynamoDB's TTL; an endpoint without TTL (dynalite) is swept here. */
      sweepExpired: (limit: number): Effect.Effect<number, Unavailable> =>
        transactional ? Effect.succeed(0) : sweep(client, limit)
    }
  })

/** The item already shows this write (a taken-over run that wrote before it could record). */
const alreadyWritten = (w: DynamoWrite): Effect.Effect<Option.Option<Recorded>, OperationError> =>
  Effect.map(w.current(), (row) => {
    const { call, write } = w
    const same = (values: Readonly<Record<string, unknown>>) =>
      row !== undefined && Object.entries(values).every(([field, value]) => field === "version" || value === undefined || row[field] === value)
    switch (write.kind) {
      case "create":
        if (row === undefined) return Option.none()
        return Option.some(same(write.item!) ? { ok: true, data: row } : recordedError(new Conflict({ message: `duplicate: a ${call.template.name} with that ${call.template.key} exists` })))
      case "update":
        return call.template.capabilities.optimistic_locking && row !== undefined && row["version"] === Number(call.values["version"]) + 1 && same(call.values)
          ? Option.some({ ok: true, data: row })
          : Option.none()
      case "delete":
        return row === undefined ? Option.some({ ok: true, data: write.key }) : Option.none()
    }
  })

/** In transactional mode the outcome is known before the write (the transaction cannot return the item after it). */
const outcomeOf = (w: DynamoWrite): Effect.Effect<Recorded, OperationError> => {
  const { call, write } = w
  switch (write.kind) {
    case "create":
      return Effect.succeed({ ok: true, data: completeRow(call.template, write.item!) })
    case "delete":
      return Effect.succeed({ ok: true, data: write.key })
    case "update":
      return Effect.map(w.current(), (row): Recorded => {
        if (row === undefined) return recordedError(new NotFound({ message: `no ${call.template.name} with that ${call.template.key}` }))
        const locking = call.template.capabilities.optimistic_locking
        if (locking && row["version"] !== call.values["version"]) return recordedError(new Conflict({ message: "stale version" }))
        const changes = Object.fromEntries(Object.entries(call.values).filter(([field, value]) => field !== "version" && value !== undefined))
        return { ok: true, data: { ...row, ...changes, ...(locking ? { version: Number(row["version"]) + 1 } : {}) } }
      })
  }
}

/** Why the write's own condition failed: a duplicate (create), or missing or stale. */
const refusal = (w: DynamoWrite): Effect.Effect<Recorded, OperationError> =>
  w.write.kind === "create"
    ? Effect.succeed(recordedError(new Conflict({ message: `duplicate: a ${w.call.template.name} with that ${w.call.template.key} exists` })))
    : Effect.map(w.current(), (row) =>
      recordedError(row === undefined ? new NotFound({ message: `no ${w.call.template.name} with that ${w.call.template.key}` }) : new Conflict({ message: "stale version" })))

class WriteRefused extends Data.TaggedError("WriteRefused") {}

/** Whether the endpoint runs TransactWriteItems: a transaction of one condition check that holds. */
const supportsTransactions = (client: DynamoDBClient) =>
  driverCall((signal) =>
    client.send(new TransactWriteItemsCommand({
      TransactItems: [{
        ConditionCheck: { TableName: IDEMPOTENCY, Key: marshall({ scope: "beds-transaction-check" }), ConditionExpression: "attribute_not_exists(#s)", ExpressionAttributeNames: { "#s": "scope" } }
      }]
    }), { abortSignal: signal })
  ).pipe(
    Effect.as(true),
    // An endpoint that has no such operation says so; anything else (no table yet) is for the IPL to report.
    Effect.catchAll(({ cause }) => Effect.succeed((cause as { name?: string }).name !== "UnknownOperationException"))
  )

/** Removes expired records (a scan: only where there is no TTL). */
const sweep = (client: DynamoDBClient, limit: number) =>
  Effect.gen(function*() {
    const now = Math.floor(Date.now() / 1000)
    const out = yield* unconditional(send((signal) =>
      client.send(new ScanCommand({
        TableName: IDEMPOTENCY,
        FilterExpression: "#e < :now",
        ProjectionExpression: "#s",
        ExpressionAttributeNames: { "#e": "expiresAt", "#s": "scope" },
        ExpressionAttributeValues: marshall({ ":now": now }),
        Limit: limit
      }), { abortSignal: signal })))
    let removed = 0
    for (const item of out.Items ?? []) {
      yield* send((signal) =>
        client.send(new DeleteItemCommand({
          TableName: IDEMPOTENCY,
          Key: { scope: item["scope"]! },
          ConditionExpression: "#e < :now",
          ExpressionAttributeNames: { "#e": "expiresAt" },
          ExpressionAttributeValues: marshall({ ":now": now })
        }), { abortSignal: signal })).pipe(
          Effect.map(() => void removed++),
          Effect.catchIf((error): error is ConditionFailed => error instanceof ConditionFailed, () => Effect.void)
        )
    }
    return removed
  }).pipe(Effect.catchAll((error) => error._tag === "Unavailable" ? Effect.fail(error) : Effect.die(error)))

/** What a write may fail with: it may not have run, or must not run; anything else is a defect here. */
const onlyTransient = (error: OperationError | { readonly _tag: string }): Effect.Effect<never, Unavailable | KeyReused | InProgress> =>
  error._tag === "Unavailable" || error._tag === "KeyReused" || error._tag === "InProgress"
    ? Effect.fail(error as Unavailable | KeyReused | InProgress)
    : Effect.die(new Error(`dynamodb: a write's bookkeeping failed with ${error._tag}`))
