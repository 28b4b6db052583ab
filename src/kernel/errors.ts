import { Schema } from "effect"

/**
 * A service BEDS depends on (RabbitMQ, a database, the shared filesystem) could not be reached or
 * refused us. `target` says where (host:port, path), never with credentials.
 */
export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()("ServiceUnavailable", {
  target: Schema.String,
  reason: Schema.String
}) {}

/** The first line of an unknown thrown value, for reasons an operator reads. */
export const reasonOf = (cause: unknown): string => {
  const text = cause instanceof Error
    ? (cause.message || cause.name) + causeSuffix(cause)
    : typeof cause === "string" ? cause : JSON.stringify(cause) ?? String(cause)
  return text.split("\n")[0]!.trim() || "unknown error"
}

// Drivers often wrap the useful message (ECONNREFUSED, Access denied) in a `cause`.
const causeSuffix = (error: Error): string =>
  error.cause instanceof Error && error.cause.message && !error.message.includes(error.cause.message)
    ? `: ${error.cause.message}`
    : ""
