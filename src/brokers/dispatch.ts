import { Context, type Effect } from "effect"
import type { Request } from "../protocol/envelope.js"
import type { OperationError } from "../protocol/errors.js"

/**
 * Runs one decoded request and returns the reply data. Brokers know nothing else about templates
 * or databases; the factory (core/factory.ts: templates -> adapters) is the node's implementation.
 * `route` is the first word of the routing key the request arrived with.
 */
export class Dispatch extends Context.Tag("beds/Dispatch")<Dispatch, {
  readonly run: (request: Request, route: string) => Effect.Effect<unknown, OperationError>
}>() {}
