import { Effect } from "effect"
import { reasonOf, ServiceUnavailable } from "../../kernel/errors.js"
import { connectMongo, mongoDbTarget, type MongoDbConfig } from "./client.js"

/** Reachable and answering commands on the configured database. */
export const probeMongoDb = (config: MongoDbConfig, options: { readonly appName: string; readonly timeoutMs: number }) =>
  Effect.scoped(Effect.gen(function*() {
    const client = yield* connectMongo(config, options)
    yield* Effect.tryPromise({
      try: () => client.db(config.database).command({ ping: 1 }),
      catch: (cause) => new ServiceUnavailable({ target: mongoDbTarget(config), reason: reasonOf(cause) })
    })
  }))
