import { Effect } from "effect"
import type { MariaDbEndpoint } from "../../config/schema.js"
import { reasonOf, ServiceUnavailable } from "../../kernel/errors.js"
import { mariaDbTarget, openMariaDb } from "./client.js"

/** Reachable and the configured database open to our user: opening the client runs `SELECT 1`. */
export const probeMariaDb = (endpoint: MariaDbEndpoint, options: { readonly timeoutMs: number }) =>
  openMariaDb(endpoint, { maxConnections: 1, connectTimeoutMs: options.timeoutMs }).pipe(
    Effect.scoped,
    Effect.asVoid,
    Effect.mapError((error) => new ServiceUnavailable({ target: mariaDbTarget(endpoint), reason: reasonOf(error.cause) }))
  )
