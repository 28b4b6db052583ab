import { Context, Effect, Layer } from "effect"
import type { Request } from "../protocol/envelope.js"
import { NotFound, type OperationError } from "../protocol/errors.js"

/**
 * Runs one decoded request and returns the reply data. Brokers know nothing else about templates
 * or databases; the factory (templates -> adapters) is the real implementation.
 */
export class Dispatch extends Context.Tag("beds/Dispatch")<Dispatch, {
  readonly run: (request: Request) => Effect.Effect<unknown, OperationError>
}>() {}

/**
 * A node with no templates loaded: every request names a template this node does not have, which
 * is `not_found`. The template registry replaces this once templates exist.
 */
export const NoTemplatesDispatch = Layer.succeed(Dispatch, {
  run: (request) => Effect.fail(new NotFound({ message: `template ${request.template} is not loaded on this node` }))
})
