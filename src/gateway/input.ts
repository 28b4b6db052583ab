import type { HttpServerRequest } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect, Schema } from "effect"
import { describeProblem, firstProblem } from "../kernel/parse-issue.js"
import type { CompiledOperation, CompiledTemplate } from "../templates/registry.js"
import { GatewayRefusal } from "./status.js"

// A request's values, from its JSON body (POST) or its query string (GET), decoded with the
// operation's Schema: the same rules a node applies, so a refusal here is what the node would say.

const refuse = (code: GatewayRefusal["code"], message: string) => new GatewayRefusal({ code, message })

/**
 * The body, kept only while it is within `maxBytes`: a declared length over it is refused unread,
 * and a chunked body is refused once it passes the limit. Either way the rest is read and dropped,
 * not kept (the request stream is not destroyed), so the caller still gets its 413 on a sound
 * connection; Node's `server.requestTimeout` bounds a body that never ends.
 */
const readBody = (request: HttpServerRequest.HttpServerRequest, maxBytes: number) => {
  const declared = request.headers["content-length"]
  if (declared !== undefined && Number(declared) > maxBytes) {
    return Effect.fail(refuse("too_large", `the body is ${declared} bytes; this gateway takes at most ${maxBytes}`))
  }
  const incoming = NodeHttpServerRequest.toIncomingMessage(request)
  return Effect.async<Buffer, GatewayRefusal>((resume) => {
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
      resume(Effect.fail(refuse("too_large", `the body is larger than this gateway takes (${maxBytes} bytes)`)))
    }
    const onEnd = () => {
      stop()
      resume(Effect.succeed(Buffer.concat(chunks, size)))
    }
    const onError = (error: Error) => {
      stop()
      resume(Effect.fail(refuse("validation", `the body could not be read: ${error.message}`)))
    }
    incoming.on("data", onData)
    incoming.once("end", onEnd)
    incoming.once("error", onError)
    return Effect.sync(stop)
  })
}

const JSON_TYPE = /^application\/json\s*(;\s*charset=utf-8\s*)?$/i

const parseJsonObject = (bytes: Uint8Array): Effect.Effect<Record<string, unknown>, GatewayRefusal> => {
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes))
  } catch (error) {
    return Effect.fail(refuse("validation", `the body is not UTF-8 JSON: ${error instanceof Error ? error.message : String(error)}`))
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? Effect.succeed(value as Record<string, unknown>)
    : Effect.fail(refuse("validation", "the body must be a JSON object of the operation's fields"))
}

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/

/** A query string's values, typed by the fields they name (numbers, booleans); anything else stays text for the Schema to judge. */
const queryValues = (template: CompiledTemplate["template"], url: URL): Effect.Effect<Record<string, unknown>, GatewayRefusal> => {
  const values: Record<string, unknown> = {}
  for (const name of new Set(url.searchParams.keys())) {
    const all = url.searchParams.getAll(name)
    if (all.length > 1) return Effect.fail(refuse("validation", `query parameter ${name} is given ${all.length} times`))
    const text = all[0]!
    const type = name === "version" ? "integer" : template.fields[name]?.type
    values[name] = (type === "integer" || type === "number") && NUMBER.test(text)
      ? Number(text)
      : type === "boolean" && (text === "true" || text === "false")
      ? text === "true"
      : text
  }
  return Effect.succeed(values)
}

/** The operation's values from the request, decoded; `raw` is what goes in the envelope. */
export const requestValues = (
  request: HttpServerRequest.HttpServerRequest,
  compiled: CompiledTemplate,
  operation: CompiledOperation,
  maxBodyBytes: number
): Effect.Effect<Record<string, unknown>, GatewayRefusal> =>
  Effect.gen(function*() {
    let raw: Record<string, unknown>
    if (request.method === "GET") {
      raw = yield* queryValues(compiled.template, new URL(request.url, "http://gateway"))
    } else {
      const type = request.headers["content-type"]
      if (type !== undefined && !JSON_TYPE.test(type)) {
        return yield* refuse("validation", `Content-Type ${JSON.stringify(type)}: the body must be application/json (UTF-8)`)
      }
      raw = yield* Effect.flatMap(readBody(request, maxBodyBytes), parseJsonObject)
    }
    const decoded = operation.decode(raw)
    if (decoded._tag === "Left") {
      return yield* refuse("validation", `${operation.input}.${describeProblem(firstProblem(decoded.left.issue))}`)
    }
    return raw
  })

/** Request headers the gateway reads, decoded: each refusal names the header. */
export const IdempotencyKey = Schema.String.pipe(Schema.pattern(/^[\x21-\x7e]{1,128}$/))
export const TimeoutMs = Schema.NumberFromString.pipe(Schema.int(), Schema.positive())
