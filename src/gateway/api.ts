import { HttpApi, HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema, SchemaAST as AST } from "effect"
import { PROTOCOL_VERSION } from "../protocol/envelope.js"
import { TICKETS_TEMPLATE } from "../protocol/routing.js"
import { DEFAULT_MAX_STRING, fieldSchema } from "../templates/payload.js"
import type { CompiledOperation, CompiledTemplate } from "../templates/registry.js"
import type { FieldSpec } from "../templates/schema.js"
import { ErrorBody, httpStatus } from "./status.js"

// The gateway's routes as an HttpApi, made from the loaded templates when the gateway starts: one
// group per template, one endpoint per operation with the operation's payload Schema as its body
// (and, for reads, as its query string), the reply shapes and every error status. OpenApi.fromApi
// makes /openapi.json from it; the docs page and HttpApiClient read the same API.

// The API's shape is known only at run time (the template files), so its static types say nothing:
// the builders below are typed `any` where HttpApi's types would track each endpoint's name.
type AnyEndpoint = HttpApiEndpoint.HttpApiEndpoint.Any
type AnyGroup = any

/** The path of an operation's route. */
export const operationPath = (template: string, op: string) => `/v1/${template}/${op}` as const
/** The ticket poll's route, and the Location of a ticket. */
export const ticketPath = (ticketId: string) => `/v1/tickets/${encodeURIComponent(ticketId)}`
/** Endpoint names within a template's group: the op (POST), and `{op}_get` for the GET of a read. */
export const getEndpointName = (op: string) => `${op}_get`
export const TICKET_POLL = "poll"

// The reply's lineage as the document shows it (the envelope's Schema names itself for error messages).
const Lineage = Schema.Struct({ eventId: Schema.String, parentId: Schema.String, depth: Schema.Int }).annotations({ identifier: "lineage" })

const okReply = (data: Schema.Schema.Any, description: string) =>
  Schema.Struct({ version: Schema.Literal(PROTOCOL_VERSION), status: Schema.Literal("ok"), data, lineage: Lineage })
    .annotations({ description })

/** A record as a reply gives it: every field, null when unset, plus `version` when the template locks. */
const recordOf = ({ template }: CompiledTemplate): Schema.Schema.Any => {
  const fields: Record<string, Schema.Schema.Any> = {}
  for (const [name, spec] of Object.entries(template.fields)) fields[name] = Schema.NullOr(fieldSchema(spec))
  if (template.capabilities.optimistic_locking) fields["version"] = Schema.Int
  return Schema.Struct(fields).annotations({ identifier: `${template.name}_record` })
}

const Ticket = Schema.Struct({
  ticket_id: Schema.String,
  status: Schema.Literal("pending", "running", "done", "failed", "expired", "unknown"),
  template: Schema.NullOr(Schema.String),
  op: Schema.NullOr(Schema.String),
  attempts: Schema.NullOr(Schema.Int),
  result: Schema.Unknown,
  error: Schema.Unknown,
  created_at: Schema.NullOr(Schema.String),
  started_at: Schema.NullOr(Schema.String),
  ended_at: Schema.NullOr(Schema.String),
  expires_at: Schema.NullOr(Schema.String),
  lineage: Schema.Unknown
}).annotations({ identifier: "ticket", description: "An async ticket (docs/protocol.md, Tickets)" })
const TicketReply = okReply(Ticket, "A ticket: the request runs as a job; poll the Location")

const replyData = (compiled: CompiledTemplate, operation: CompiledOperation): Schema.Schema.Any => {
  const record = recordOf(compiled)
  switch (operation.standard) {
    case "fetch":
    case "create":
    case "update":
      return record
    case "delete":
      return Schema.Struct({ [compiled.template.key]: Schema.Unknown })
    case undefined:
      return operation.kind === "read" ? Schema.Array(record) : Schema.Array(Schema.Unknown)
  }
}

const describe = (compiled: CompiledTemplate, operation: CompiledOperation, method: string) =>
  OpenApi.annotations({
    summary: `${compiled.template.name}.${operation.op} (${operation.kind}${operation.longRunning ? ", long-running: answered 202 with a ticket" : ""})`,
    description: `${method === "GET" ? "Values in the query string" : "Values in the JSON body"}, as the template's fields declare them. ` +
      `Callers with roles: ${operation.allow.join(", ")}. Prefer: respond-async asks for a ticket (202).`
  })

/** A field as a query parameter's JSON Schema: its type and limits, as the template declares them. */
const queryParameter = (spec: FieldSpec | undefined): Record<string, unknown> => {
  if (spec === undefined) return { type: "integer", minimum: 1, description: "The record's version (optimistic locking)" }
  const schema: Record<string, unknown> = { type: spec.type === "timestamp" ? "string" : spec.type }
  if (spec.type === "timestamp") schema["format"] = "date-time"
  if (spec.type === "string") schema["maxLength"] = spec.max_length ?? DEFAULT_MAX_STRING
  if (spec.min_length !== undefined) schema["minLength"] = spec.min_length
  if (spec.pattern !== undefined) schema["pattern"] = `^(?:${spec.pattern})$`
  if (spec.min !== undefined) schema["minimum"] = spec.min
  if (spec.max !== undefined) schema["maximum"] = spec.max
  if (spec.description !== undefined) schema["description"] = spec.description
  return schema
}

/**
 * The query string of a read's GET: every value arrives as text, typed by the gateway (src/gateway/input.ts)
 * and decoded with the operation's Schema there. So HttpApi sees optional strings only (its own decode
 * never refuses), and the document shows each parameter's type and limits (required ones: openapi.ts).
 */
const queryParameters = (compiled: CompiledTemplate, operation: CompiledOperation) => {
  const ast = operation.payload.ast
  const names = AST.isTypeLiteral(ast) ? ast.propertySignatures.map((property) => String(property.name)) : []
  return Schema.Struct(Object.fromEntries(names.map((name) => [
    name,
    Schema.optional(Schema.String.annotations({ jsonSchema: queryParameter(compiled.template.fields[name]) }))
  ])))
}

const endpointsOf = (compiled: CompiledTemplate, operation: CompiledOperation): ReadonlyArray<AnyEndpoint> => {
  const path = operationPath(compiled.template.name, operation.op)
  const ok = okReply(replyData(compiled, operation), "The reply of the operation")
  const withReplies = <E extends AnyEndpoint>(endpoint: E): AnyEndpoint =>
    (endpoint as any).addSuccess(ok, { status: operation.standard === "create" ? 201 : 200 }).addSuccess(TicketReply, { status: 202 })
  const post = withReplies(HttpApiEndpoint.post(operation.op, path).setPayload(operation.payload).annotateContext(describe(compiled, operation, "POST")))
  if (operation.kind !== "read") return [post]
  const get = withReplies(HttpApiEndpoint.get(getEndpointName(operation.op), path).setUrlParams(queryParameters(compiled, operation))
    .annotateContext(describe(compiled, operation, "GET")))
  return [post, get]
}

/** The HttpApi of the given templates (in the order given). */
export const gatewayApi = (templates: ReadonlyArray<CompiledTemplate>) => {
  let api: HttpApi.HttpApi.Any = HttpApi.make("beds")
  for (const compiled of templates) {
    let group: AnyGroup = HttpApiGroup.make(compiled.template.name)
    if (compiled.template.description !== undefined) group = group.annotate(OpenApi.Description, compiled.template.description)
    for (const operation of compiled.operations.values()) {
      for (const endpoint of endpointsOf(compiled, operation)) group = group.add(endpoint)
    }
    if (compiled.template.name === TICKETS_TEMPLATE) {
      group = group.add(
        HttpApiEndpoint.get(TICKET_POLL, "/v1/tickets/:id").setPath(Schema.Struct({ id: Schema.String })).addSuccess(okReply(Ticket, "The ticket"))
          .annotateContext(OpenApi.annotations({ summary: "Poll a ticket (the Location of a 202)" }))
      )
    }
    api = (api as any).add(group)
  }
  // Every error status, each with the one error shape (a BEDS error reply).
  for (const status of new Set(Object.values(httpStatus))) api = (api as any).addError(ErrorBody, { status })
  return api
}
