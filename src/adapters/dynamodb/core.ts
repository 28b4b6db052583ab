import {
  DeleteItemCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand
} from "@aws-sdk/client-dynamodb"
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb"
import { Effect } from "effect"
import { Conflict, NotFound, type OperationError } from "../../protocol/errors.js"
import type { Template } from "../../templates/schema.js"
import { completeRow, type CoreCall, type NamasteCoreService, type Row, type StoreObjectKinds, type WriteKind } from "../port.js"
import { makeDynamoClient, type DynamoDbConfig } from "./client.js"
import { makeDynamoOnce } from "./once.js"
import { ConditionFailed, type ItemWrite, send, unconditional } from "./send.js"

const names = (fields: ReadonlyArray<string>) => Object.fromEntries(fields.map((f, i) => [`#f${i}`, f]))
const toRow = (template: Template, item: Record<string, unknown> | undefined): Row | undefined =>
  item === undefined ? undefined : completeRow(template, unmarshall(item as never))

/** The standard operations use a table; named reads query one of its indexes. */
export const dynamoDbObjectKinds: StoreObjectKinds = { fetch: "table", write: "table", named: "index" }

/**
 * The DynamoDB NamasteCore: a declared table keyed by the template's key; named reads query an
 * index. Writes are exactly once through dynamodb/once.ts: a TransactWriteItems of the write and
 * its record where the endpoint has transactions (DynamoDB), conditional writes and a leased claim
 * where it has not (dynalite); that file says what holds where.
 */
export const makeDynamoDbCore = (config: DynamoDbConfig, options: { readonly timeoutMs: number }) =>
  Effect.gen(function*() {
    const client: DynamoDBClient = yield* makeDynamoClient(config, { timeoutMs: options.timeoutMs, maxAttempts: 1 })
    const locking = (template: Template) => template.capabilities.optimistic_locking
    const keyOf = (call: CoreCall) => ({ [call.template.key]: call.values[call.template.key] })
    const getItem = (table: string, key: Record<string, unknown>) =>
      unconditional(send((signal) => client.send(new GetItemCommand({ TableName: table, Key: marshall(key), ConsistentRead: true }), { abortSignal: signal })))
    const current = (call: CoreCall) => Effect.map(getItem(call.object, keyOf(call)), (out) => toRow(call.template, out.Item))
    // A failed condition means the record is missing or its version is stale; which one decides the code.
    const staleOrMissing = (call: CoreCall): Effect.Effect<never, OperationError> =>
      Effect.flatMap(current(call), (row): Effect.Effect<never, OperationError> =>
        row !== undefined
          ? Effect.fail(new Conflict({ message: "stale version" }))
          : Effect.fail(new NotFound({ message: `no ${call.template.name} with that ${call.template.key}` })))

    /** The write a call asks for, as data. */
    const itemWrite = (call: CoreCall, kind: WriteKind): ItemWrite => {
      const k = call.template.key
      switch (kind) {
        case "create":
          return {
            kind,
            table: call.object,
            key: keyOf(call),
            item: { ...call.values, ...(locking(call.template) ? { version: 1 } : {}) },
            condition: "attribute_not_exists(#k)",
            names: { "#k": k },
            values: undefined
          }
        case "update": {
          const fields = Object.keys(call.values).filter((f) => f !== k && f !== "version")
          const set = fields.map((_, i) => `#f${i} = :v${i}`)
          const values: Record<string, unknown> = Object.fromEntries(fields.map((f, i) => [`:v${i}`, call.values[f]]))
          let condition = "attribute_exists(#k)"
          if (locking(call.template)) {
            set.push("#version = #version + :one")
            values[":one"] = 1
            values[":expected"] = call.values["version"]
            condition += " AND #version = :expected"
          }
          return {
            kind,
            table: call.object,
            key: keyOf(call),
            update: `SET ${set.join(", ")}`,
            condition,
            names: { ...names(fields), "#k": k, ...(locking(call.template) ? { "#version": "version" } : {}) },
            values: Object.keys(values).length > 0 ? values : undefined
          }
        }
        case "delete": {
          const checkVersion = locking(call.template) && call.values["version"] !== undefined
          return {
            kind,
            table: call.object,
            key: keyOf(call),
            condition: checkVersion ? "attribute_exists(#k) AND #version = :expected" : "attribute_exists(#k)",
            names: { "#k": k, ...(checkVersion ? { "#version": "version" } : {}) },
            values: checkVersion ? { ":expected": call.values["version"] } : undefined
          }
        }
        case "named":
          // Refused when the template loads (named writes are served on mariadb only).
          throw new Error(`named writes are not supported on dynamodb (${call.template.name})`)
      }
    }
    const expression = (write: ItemWrite) => ({
      ConditionExpression: write.condition,
      ExpressionAttributeNames: write.names,
      ...(write.values === undefined ? {} : { ExpressionAttributeValues: marshall(write.values, { removeUndefinedValues: true }) })
    })

    /** Runs a write on its own; answers the record after it (delete: the key). */
    const runWrite = (call: CoreCall, write: ItemWrite): Effect.Effect<Row, OperationError> => {
      const conditioned = <A>(effect: Effect.Effect<A, OperationError | ConditionFailed>) =>
        Effect.catchAll(effect, (error): Effect.Effect<never, OperationError> =>
          !(error instanceof ConditionFailed)
            ? Effect.fail(error)
            : write.kind === "create"
            ? Effect.fail(new Conflict({ message: `duplicate: a ${call.template.name} with that ${call.template.key} exists` }))
            : staleOrMissing(call))
      switch (write.kind) {
        case "create":
          return conditioned(send((signal) =>
            client.send(new PutItemCommand({ TableName: write.table, Item: marshall(write.item!, { removeUndefinedValues: true }), ...expression(write) }), {
              abortSignal: signal
            }))).pipe(Effect.as(completeRow(call.template, write.item!)))
        case "update":
          return conditioned(send((signal) =>
            client.send(new UpdateItemCommand({ TableName: write.table, Key: marshall(write.key), UpdateExpression: write.update!, ...expression(write), ReturnValues: "ALL_NEW" }), {
              abortSignal: signal
            }))).pipe(Effect.map((out) => toRow(call.template, out.Attributes) ?? {}))
        case "delete":
          return conditioned(send((signal) =>
            client.send(new DeleteItemCommand({ TableName: write.table, Key: marshall(write.key), ...expression(write) }), { abortSignal: signal })))
            .pipe(Effect.as(write.key))
      }
    }

    // DynamoDB itself has transactions; another endpoint is asked (dynalite has none).
    const once = yield* makeDynamoOnce(client, { transactional: config.endpoint === undefined ? true : undefined })
    yield* Effect.logInfo(`dynamodb: exactly-once writes by ${once.mode} writes`)

    const service: NamasteCoreService = {
      fetchRecords: (call) => Effect.map(current(call), (row) => (row === undefined ? [] : [row])),
      // A named read queries the index the template names: the first param is its partition key,
      // a second (if any) its sort key, both compared for equality with bound values.
      readNamed: (call) => {
        const condition = call.params.map((_, i) => `#f${i} = :v${i}`).join(" AND ")
        return unconditional(
          send((signal) =>
            client.send(new QueryCommand({
              TableName: tableOf(call.template),
              IndexName: call.object,
              KeyConditionExpression: condition,
              ExpressionAttributeNames: names(call.params),
              ExpressionAttributeValues: marshall(Object.fromEntries(call.params.map((p, i) => [`:v${i}`, call.values[p]])))
            }), { abortSignal: signal })
          )
        ).pipe(Effect.map((out) => (out.Items ?? []).map((item) => toRow(call.template, item)!)))
      },
      write: (call, kind, scope, options) =>
        Effect.suspend(() =>
          once.write(scope, {
            call,
            write: itemWrite(call, kind),
            before: options.before === undefined ? Effect.succeed(null) : Effect.map(current(call), (row) => row ?? null),
            run: (write) => runWrite(call, write),
            current: () => current(call)
          })
        ),
      sweepExpired: once.sweepExpired,
      objectExists: (template, object, kind) =>
        unconditional(
          send((signal) => client.send(new DescribeTableCommand({ TableName: kind === "index" ? tableOf(template) : object }), { abortSignal: signal }))
        ).pipe(
          Effect.map((out) => kind !== "index" || (out.Table?.GlobalSecondaryIndexes ?? []).some((index) => index.IndexName === object)),
          // Here a missing table is the answer, not a defect.
          Effect.catchAllDefect((defect) =>
            (defect as { name?: string }).name === "ResourceNotFoundException" ? Effect.succeed(false) : Effect.die(defect))
        )
    }
    return service
  })

/** The table of a dynamodb template: the object of its standard operations. */
const tableOf = (template: Template): string =>
  template.operations.fetch?.object ?? template.operations.create?.object ?? template.operations.update?.object ??
    template.operations.delete?.object ?? template.name
