import { Reactivity } from "@effect/experimental"
import { MysqlClient } from "@effect/sql-mysql2"
import { Effect } from "effect"
import type { MariaDbEndpoint } from "../../config/schema.js"
import { reasonOf, ServiceUnavailable } from "../../core/errors.js"
import { mariaDbTarget, mysqlClientConfig } from "./client.js"

/** Reachable and the configured database open to our user: building the client runs `SELECT 1`. */
export const probeMariaDb = (endpoint: MariaDbEndpoint, options: { readonly timeoutMs: number }) =>
  MysqlClient.make(mysqlClientConfig(endpoint, { maxConnections: 1, connectTimeoutMs: options.timeoutMs })).pipe(
    Effect.scoped,
    Effect.provide(Reactivity.layer),
    Effect.asVoid,
    Effect.mapError((error) => new ServiceUnavailable({ target: mariaDbTarget(endpoint), reason: reasonOf(error.cause) }))
  )
