import { ListTablesCommand } from "@aws-sdk/client-dynamodb"
import { Effect } from "effect"
import { reasonOf, ServiceUnavailable } from "../../kernel/errors.js"
import { dynamoDbTarget, makeDynamoClient, type DynamoDbConfig } from "./client.js"

/** Reachable and accepting our credentials: one ListTables call, no retries. */
export const probeDynamoDb = (config: DynamoDbConfig, options: { readonly timeoutMs: number }) =>
  Effect.scoped(Effect.gen(function*() {
    const client = yield* makeDynamoClient(config, { timeoutMs: options.timeoutMs, maxAttempts: 1 })
    yield* Effect.tryPromise({
      try: (signal) => client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: signal }),
      catch: (cause) => new ServiceUnavailable({ target: dynamoDbTarget(config), reason: reasonOf(cause) })
    })
  }))
