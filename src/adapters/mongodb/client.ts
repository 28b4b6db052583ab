import { Effect, Redacted } from "effect"
import { MongoClient } from "mongodb"
import { ConnectionString } from "mongodb-connection-string-url"
import type { BedsConfig } from "../../config/schema.js"
import { reasonOf, ServiceUnavailable } from "../../kernel/errors.js"

export type MongoDbConfig = BedsConfig["mongodb"]

/** The hosts of the connection string and the database; the URI itself may hold credentials. */
export const mongoDbTarget = (config: MongoDbConfig): string => {
  try {
    return `${new ConnectionString(Redacted.value(config.uri)).hosts.join(",")}/${config.database}`
  } catch {
    return `(unparsable connection string)/${config.database}`
  }
}

/** A connected client, closed when the scope ends. */
export const connectMongo = (config: MongoDbConfig, options: { readonly appName: string; readonly timeoutMs: number }) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        new MongoClient(Redacted.value(config.uri), {
          appName: options.appName,
          serverSelectionTimeoutMS: options.timeoutMs,
          connectTimeoutMS: options.timeoutMs
        }).connect(),
      catch: (cause) => new ServiceUnavailable({ target: mongoDbTarget(config), reason: reasonOf(cause) })
    }),
    (client) => Effect.promise(() => client.close().catch(() => undefined))
  )
