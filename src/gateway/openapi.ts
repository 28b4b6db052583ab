import { type HttpApi, OpenApi } from "@effect/platform"
import type { CompiledTemplate } from "../templates/registry.js"
import { gatewayApi } from "./api.js"

type Spec = ReturnType<typeof OpenApi.fromApi>
type Operation = {
  security?: Array<Record<string, Array<string>>>
  parameters?: Array<{ name: string; in: string; required?: boolean }>
  requestBody?: { content?: Record<string, { schema?: { required?: Array<string> } }> }
  responses?: Record<string, { content?: Record<string, { schema?: any }> }>
}

/** Every operation takes either credential (docs/gateway.md, Authentication). */
const security = [{ bearer: [] }, { apiKey: [] }]

/**
 * The document OpenApi.fromApi makes of the gateway's HttpApi, finished: title and description,
 * the two credentials every operation takes, and without HttpApi's own decode error (the gateway
 * decodes bodies itself, and every error it answers is a BEDS error reply).
 */
const finish = (spec: Spec): Spec => {
  const paths = spec.paths as Record<string, Record<string, Operation>>
  for (const methods of Object.values(paths)) {
    // A read's GET takes in its query string what its POST takes in the body: the same ones required.
    const required = methods["post"]?.requestBody?.content?.["application/json"]?.schema?.required ?? []
    for (const parameter of methods["get"]?.parameters ?? []) if (parameter.in === "query" && required.includes(parameter.name)) parameter.required = true
    for (const operation of Object.values(methods)) {
      operation.security = security
      const json = operation.responses?.["400"]?.content?.["application/json"]
      const options = json?.schema?.anyOf as Array<{ $ref?: string }> | undefined
      if (json !== undefined && options !== undefined) {
        const kept = options.filter((option) => option.$ref !== "#/components/schemas/HttpApiDecodeError")
        json.schema = kept.length === 1 ? kept[0] : { anyOf: kept }
      }
    }
  }
  const { HttpApiDecodeError: _decodeError, Issue: _issue, ...schemas } = (spec.components.schemas ?? {}) as Record<string, unknown>
  return withoutUnknownIds({
    ...spec,
    info: {
      ...spec.info,
      description: "BEDS over HTTP: one route per template operation. Each request is decoded with the template's Schema, " +
        "sent over AMQP signed by the gateway, and answered with the node's reply. Errors are BEDS error replies " +
        "(docs/protocol.md, Error catalog); the HTTP status of each code is in docs/gateway.md."
    },
    components: {
      ...spec.components,
      schemas: schemas as Spec["components"]["schemas"],
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "A JWT from an issuer the gateway trusts (gateway.jwt)" },
        apiKey: { type: "apiKey", in: "header", name: "X-API-Key", description: "An API key (gateway.api_keys)" }
      }
    },
    security
  })
}

/** Schema.Unknown is `{"$id": "/schemas/unknown"}`; OpenAPI 3.1 refuses an $id given twice, so "any value" is `{}`. */
const withoutUnknownIds = <A>(value: A): A => {
  if (Array.isArray(value)) return value.map(withoutUnknownIds) as A
  if (typeof value !== "object" || value === null) return value
  const entries = Object.entries(value).filter(([key, item]) => !(key === "$id" && item === "/schemas/unknown") && !(key === "title" && item === "unknown"))
  return Object.fromEntries(entries.map(([key, item]) => [key, withoutUnknownIds(item)])) as A
}

/** The gateway's HttpApi with the annotations its OpenAPI document (and the docs page) are made with. */
export const documentedApi = (templates: ReadonlyArray<CompiledTemplate>) =>
  (gatewayApi(templates) as any as HttpApi.HttpApi<"beds", never>).annotateContext(OpenApi.annotations({ title: "BEDS HTTP gateway", version: "1", transform: finish as any }))
