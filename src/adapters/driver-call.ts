import { Data, Effect } from "effect"

/** A database driver's promise rejected; adapters classify `cause` into the error catalog. */
export class DriverCallFailed extends Data.TaggedError("DriverCallFailed")<{ readonly cause: unknown }> {}

export const driverCall = <A>(operation: (signal: AbortSignal) => Promise<A>) =>
  Effect.tryPromise({ try: operation, catch: (cause) => new DriverCallFailed({ cause }) })
