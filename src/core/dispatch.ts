import { Context, type Effect } from "effect"
import type { Request } from "../protocol/envelope.js"
import type { OperationError } from "../protocol/errors.js"

/**
 * Runs one decoded request and returns the reply data: the port between the brokers (which know
 * nothing of templates or databases) and the factory (core/factory.ts), its one implementation.
 * `route` is the first word of the routing key the request arrived with.
 *
 * The fast-path contract: when the answer needs no work (a read-cache hit), `run` returns
 * `Effect.succeed(data)` itself, not an effect built from it, so that the message path sees it
 * already done (kernel/already-done.ts) and settles the message without a fiber. `run` may be
 * called once per message, synchronously, by the broker's entry; it should not throw (a throw is
 * caught there and answered `internal`, as a defect).
 */
export class Dispatch extends Context.Tag("beds/Dispatch")<Dispatch, {
  readonly run: (request: Request, route: string) => Effect.Effect<unknown, OperationError>
  /**
   * Whether the request changes data. A mutation, once started, is not cut short by its deadline
   * (it runs to the end, with its events, and its reply tells what happened); a read is.
   */
  readonly mutates: (request: Request) => boolean
}>() {}
