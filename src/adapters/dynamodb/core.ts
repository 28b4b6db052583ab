import {
  DeleteItemCommand,
  DescribeTableCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type DynamoDBClient
} from "@aws-sdk/client-dynamodb"
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb"
import { Effect } from "effect"
import { completeRow, type CoreCall, type NamasteCoreService, type Row, type StoreObjectKinds } from "../port.js"
import { Conflict, NotFound, Unavailable, type OperationError } from "../../protocol/errors.js"
import type { Template } from "../../templates/schema.js"
import { driverCall } from "../driver-call.js"
import { makeDynamoClient, type DynamoDbConfig } from "./client.js"

const TRANSIENT = new Set([
  "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError",
  "ServiceUnavailable", "TimeoutError", "RequestTimeout", "TransactionConflictException"
])
const NETWORK = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE"])

class ConditionFailed {
  readonly _tag = "ConditionFailed"
}

/**
 * DynamoDB errors by class: throttling, server errors, network -> transient (retried by the
 * broker; the SDK's own retries are off so there is one retry policy). A failed condition is the
 * caller's (reported by each operation). A missing table or a rejected request shape is a
 * deployment defect: made a defect on purpose, so the message is dead-lettered and logged.
 */
const send = <A>(operation: (signal: AbortSignal) => Promise<A>) =>
  driverCall(operation).pipe(
    Effect.catchAll(({ cause: error }): Effect.Effect<never, OperationError | ConditionFailed> => {
      const name = (error as { name?: string }).name ?? ""
      const code = (error as { code?: string }).code ?? ""
      if (name === "ConditionalCheckFailedException") return Effect.fail(new ConditionFailed())
      if (TRANSIENT.has(name) || NETWORK.has(code)) return Effect.fail(new Unavailable({ message: `dynamodb: ${(error as Error).message}` }))
      return Effect.die(error)
    })
  )

const names = (fields: ReadonlyArray<string>) => Object.fromEntries(fields.map((f, i) => [`#f${i}`, f]))
const toRow = (template: Template, item: Record<string, unknown> | undefined): Row | undefined =>
  item === undefined ? undefined : completeRow(template, unmarshall(item as never))

/** The standard operations use a table; named reads query one of its indexes. */
export const dynamoDbObjectKinds: StoreObjectKinds = { fetch: "table", write: "table", named: "index" }

/** The DynamoDB NamasteCore: a declared table keyed by the template's key; named reads query an index. */
export const makeDynamoDbCore = (config: DynamoDbConfig, options: { readonly timeoutMs: number }) =>
  Effect.gen(function*() {
    const client: DynamoDBClient = yield* makeDynamoClient(config, { timeoutMs: options.timeoutMs, maxAttempts: 1 })
    const keyOf = (call: CoreCall) => marshall({ [call.template.key]: call.values[call.template.key] })
    const locking = (template: Template) => template.capabilities.optimistic_locking
    // For calls that carry no condition, a ConditionFailed cannot happen.
    const unconditional = <A>(effect: Effect.Effect<A, OperationError | ConditionFailed>): Effect.Effect<A, OperationError> =>
      Effect.catchAll(effect, (error) => error instanceof ConditionFailed ? Effect.dieMessage("condition failure without a condition") : Effect.fail(error))
    const getItem = (call: CoreCall) =>
      unconditional(send((signal) =>
        client.send(new GetItemCommand({ TableName: call.object, Key: keyOf(call), ConsistentRead: true }), { abortSignal: signal })))
    // A failed condition means the record is missing or its version is stale; which one decides the code.
    const staleOrMissing = (call: CoreCall): Effect.Effect<never, OperationError> =>
      Effect.flatMap(getItem(call), (out): Effect.Effect<never, OperationError> =>
        out.Item !== undefined
          ? Effect.fail(new Conflict({ message: "stale version" }))
          : Effect.fail(new NotFound({ message: `no ${call.template.name} with that ${call.template.key}` })))
    const orConflict = <A>(
      effect: Effect.Effect<A, OperationError | ConditionFailed>,
      onCondition: () => Effect.Effect<A, OperationError>
    ): Effect.Effect<A, OperationError> =>
      Effect.catchAll(effect, (error) => error instanceof ConditionFailed ? onCondition() : Effect.fail(error))

    const service: NamasteCoreService = {
      createRecord: (call) => {
        const item = { ...call.values, ...(locking(call.template) ? { version: 1 } : {}) }
        return orConflict(
          send((signal) =>
            client.send(new PutItemCommand({
              TableName: call.object,
              Item: marshall(item, { removeUndefinedValues: true }),
              ConditionExpression: "attribute_not_exists(#k)",
              ExpressionAttributeNames: { "#k": call.template.key }
            }), { abortSignal: signal })
          ).pipe(Effect.as(completeRow(call.template, item))),
          () => Effect.fail(new Conflict({ message: `duplicate: a ${call.template.name} with that ${call.template.key} exists` }))
        )
      },
      fetchRecords: (call) => getItem(call).pipe(Effect.map((out) => (out.Item === undefined ? [] : [toRow(call.template, out.Item)!]))),
      updateRecord: (call) => {
        const fields = Object.keys(call.values).filter((f) => f !== call.template.key && f !== "version")
        const set = fields.map((_, i) => `#f${i} = :v${i}`)
        const values: Record<string, unknown> = Object.fromEntries(fields.map((f, i) => [`:v${i}`, call.values[f]]))
        let condition = "attribute_exists(#k)"
        if (locking(call.template)) {
          set.push("#version = #version + :one")
          values[":one"] = 1
          values[":expected"] = call.values["version"]
          condition += " AND #version = :expected"
        }
        return orConflict(
          send((signal) =>
            client.send(new UpdateItemCommand({
              TableName: call.object,
              Key: keyOf(call),
              UpdateExpression: `SET ${set.join(", ")}`,
              ConditionExpression: condition,
              ExpressionAttributeNames: { ...names(fields), "#k": call.template.key, ...(locking(call.template) ? { "#version": "version" } : {}) },
              ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: marshall(values, { removeUndefinedValues: true }) } : {}),
              ReturnValues: "ALL_NEW"
            }), { abortSignal: signal })
          ).pipe(Effect.map((out) => toRow(call.template, out.Attributes) ?? {})),
          () => staleOrMissing(call)
        )
      },
      deleteRecord: (call) => {
        const checkVersion = locking(call.template) && call.values["version"] !== undefined
        return orConflict(
          send((signal) =>
            client.send(new DeleteItemCommand({
              TableName: call.object,
              Key: keyOf(call),
              ConditionExpression: checkVersion ? "attribute_exists(#k) AND #version = :expected" : "attribute_exists(#k)",
              ExpressionAttributeNames: { "#k": call.template.key, ...(checkVersion ? { "#version": "version" } : {}) },
              ...(checkVersion ? { ExpressionAttributeValues: marshall({ ":expected": call.values["version"] }) } : {})
            }), { abortSignal: signal })
          ).pipe(Effect.as({ [call.template.key]: call.values[call.template.key] })),
          () => staleOrMissing(call)
        )
      },
      // A named read queries the index the template names: the first param is its partition key,
      // a second (if any) its sort key, both compared for equality with bound values.
      callOperation: (call) => {
        const table = tableOf(call.template)
        if (call.kind === "write") return Effect.die(`named writes are not supported on dynamodb (${call.template.name})`)
        const condition = call.params.map((_, i) => `#f${i} = :v${i}`).join(" AND ")
        return unconditional(
          send((signal) =>
            client.send(new QueryCommand({
              TableName: table,
              IndexName: call.object,
              KeyConditionExpression: condition,
              ExpressionAttributeNames: names(call.params),
              ExpressionAttributeValues: marshall(Object.fromEntries(call.params.map((p, i) => [`:v${i}`, call.values[p]])))
            }), { abortSignal: signal })
          )
        ).pipe(Effect.map((out) => (out.Items ?? []).map((item) => toRow(call.template, item)!)))
      },
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
