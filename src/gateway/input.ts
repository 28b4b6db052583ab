import { Either, Schema } from "effect"
import type { IncomingMessage } from "node:http"
import { describeProblem, firstProblem } from "../kernel/parse-issue.js"
import type { CompiledOperation, CompiledTemplate } from "../templates/registry.js"
import { GatewayRefusal } from "./status.js"

// A request's values, from its JSON body (POST) or its query string (GET), decoded with the
// operation's Schema: the same rules a node applies, so a refusal here is what the node would say.
// Plain callbacks, no Effect per request: this is the gateway's hot path (docs/gateway.md, How a
// request is served).

const refuse = (code: GatewayRefusal["code"], message: string) => new GatewayRefusal({ code, message })

type Values = Either.Either<Record<string, unknown>, GatewayRefusal>

/**
 * The body, kept only while it is within `maxBytes`: a declared length over it is refused unread,
 * and a chunked body is refused once it passes the limit. Either way the rest is read and dropped,
 * not kept (the request stream is not destroyed), so the caller still gets its 413 on a sound
 * connection; Node's `server.requestTimeout` bounds a body that never ends.
 */
const readBody = (incoming: IncomingMessage, maxBytes: number, done: (body: Either.Either<Buffer, GatewayRefusal>) => void) => {
  const declared = incoming.headers["content-length"]
  if (declared !== undefined && Number(declared) > maxBytes) {
    incoming.resume()
    return done(Either.left(refuse("too_large", `the body is ${declared} bytes; this gateway takes at most ${maxBytes}`)))
  }
  const chunks: Array<Buffer> = []
  let size = 0
  const stop = () => {
    incoming.off("data", onData)
    incoming.off("end", onEnd)
    incoming.off("error", onError)
  }
  const onData = (chunk: Buffer) => {
    size += chunk.length
    if (size <= maxBytes) return void chunks.push(chunk)
    stop()
    incoming.resume() // flowing with no listener: the rest is dropped
    done(Either.left(refuse("too_large", `the body is larger than this gateway takes (${maxBytes} bytes)`)))
  }
  const onEnd = () => {
    stop()
    done(Either.right(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)))
  }
  const onError = (error: Error) => {
    stop()
    done(Either.left(refuse("validation", `the body could not be read: ${error.message}`)))
  }
  incoming.on("data", onData)
  incoming.once("end", onEnd)
  incoming.once("error", onError)
}

const JSON_TYPE = /^application\/json\s*(;\s*charset=utf-8\s*)?$/i
const utf8 = new TextDecoder("utf-8", { fatal: true })

const parseJsonObject = (bytes: Uint8Array): Values => {
  let value: unknown
  try {
    value = JSON.parse(utf8.decode(bytes))
  } catch (error) {
    return Either.left(refuse("validation", `the body is not UTF-8 JSON: ${error instanceof Error ? error.message : String(error)}`))
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? Either.right(value as Record<string, unknown>)
    : Either.left(refuse("validation", "the body must be a JSON object of the operation's fields"))
}

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/

/** A query string's values, typed by the fields they name (numbers, booleans); anything else stays text for the Schema to judge. */
const queryValues = (template: CompiledTemplate["template"], search: string): Values => {
  const params = new URLSearchParams(search)
  const values: Record<string, unknown> = {}
  for (const name of new Set(params.keys())) {
    const all = params.getAll(name)
    if (all.length > 1) return Either.left(refuse("validation", `query parameter ${name} is given ${all.length} times`))
    const text = all[0]!
    const type = name === "version" ? "integer" : template.fields[name]?.type
    values[name] = (type === "integer" || type === "number") && NUMBER.test(text)
      ? Number(text)
      : type === "boolean" && (text === "true" || text === "false")
      ? text === "true"
      : text
  }
  return Either.right(values)
}

const decoded = (operation: CompiledOperation, raw: Values): Values =>
  Either.flatMap(raw, (values) => {
    const result = operation.decode(values)
    return result._tag === "Left"
      ? Either.left(refuse("validation", `${operation.input}.${describeProblem(firstProblem(result.left.issue))}`))
      : Either.right(values)
  })

/**
 * The operation's values from the request (`search` is the URL's query string, without `?`),
 * decoded; what `done` gets is what goes in the envelope. A GET answers at once, a POST once its
 * body is read.
 */
export const requestValues = (
  incoming: IncomingMessage,
  search: string,
  compiled: CompiledTemplate,
  operation: CompiledOperation,
  maxBodyBytes: number,
  done: (values: Values) => void
): void => {
  if (incoming.method === "GET") return done(decoded(operation, queryValues(compiled.template, search)))
  const type = incoming.headers["content-type"]
  if (type !== undefined && !JSON_TYPE.test(type)) {
    incoming.resume()
    return done(Either.left(refuse("validation", `Content-Type ${JSON.stringify(type)}: the body must be application/json (UTF-8)`)))
  }
  readBody(incoming, maxBodyBytes, (body) => done(decoded(operation, Either.flatMap(body, parseJsonObject))))
}

/** Request headers the gateway reads, decoded: each refusal names the header. */
export const IdempotencyKey = Schema.String.pipe(Schema.pattern(/^[\x21-\x7e]{1,128}$/))
export const TimeoutMs = Schema.NumberFromString.pipe(Schema.int(), Schema.positive())
