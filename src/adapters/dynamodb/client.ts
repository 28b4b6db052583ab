import { DynamoDBClient } from "@aws-sdk/client-dynamodb"
import { Effect, Redacted } from "effect"
import type { BedsConfig } from "../../config/schema.js"

export type DynamoDbConfig = BedsConfig["dynamodb"]

export const dynamoDbTarget = (config: DynamoDbConfig): string =>
  config.endpoint ?? `dynamodb.${config.region}.amazonaws.com`

/** A client, destroyed (its sockets closed) when the scope ends. */
export const makeDynamoClient = (
  config: DynamoDbConfig,
  options: { readonly timeoutMs: number; readonly maxAttempts: number }
) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      new DynamoDBClient({
        region: config.region,
        maxAttempts: options.maxAttempts,
        requestHandler: { connectionTimeout: options.timeoutMs, requestTimeout: options.timeoutMs },
        ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
        // Both keys set means static credentials (local DynamoDB); neither means the default chain.
        ...(config.access_key_id !== undefined && config.secret_access_key !== undefined
          ? {
            credentials: {
              accessKeyId: config.access_key_id,
              secretAccessKey: Redacted.value(config.secret_access_key)
            }
          }
          : {})
      })
    ),
    (client) => Effect.sync(() => client.destroy())
  )
