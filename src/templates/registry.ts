import { Context, type Either, Layer, type ParseResult, Schema } from "effect"
import { payloadSchema } from "./payload.js"
import type { NamedOperation, Template } from "./schema.js"

type Decoder = (input: unknown) => Either.Either<Record<string, unknown>, ParseResult.ParseError>

export type StandardOp = "create" | "fetch" | "update" | "delete"

/** One operation of a template, ready to run: its object, params and compiled payload decoder. */
export interface CompiledOperation {
  readonly op: string
  readonly kind: "read" | "write"
  readonly standard: StandardOp | undefined
  readonly object: string
  readonly params: ReadonlyArray<string>
  readonly allow: ReadonlyArray<string>
  /** Always runs as a job, answered with a ticket (the template's `long_running`). */
  readonly longRunning: boolean
  /** Which part of the request carries the values. */
  readonly input: "data" | "query"
  /** The Schema the values are decoded with (its JSON Schema is the gateway's request body). */
  readonly payload: Schema.Schema<Record<string, unknown>, unknown>
  readonly decode: Decoder
}

const withDecoder = (payload: Schema.Schema<Record<string, unknown>, unknown>) => ({
  payload,
  decode: Schema.decodeUnknownEither(payload, { onExcessProperty: "error" })
})

export interface CompiledTemplate {
  readonly template: Template
  readonly operations: ReadonlyMap<string, CompiledOperation>
}

const compile = (template: Template): CompiledTemplate => {
  const operations = new Map<string, CompiledOperation>()
  const standard = (op: StandardOp, shape: "create" | "update" | "select", input: "data" | "query") => {
    const declared = template.operations[op]
    if (declared === undefined) return
    const params = declared.params ?? Object.keys(template.fields)
    operations.set(op, {
      op,
      kind: op === "fetch" ? "read" : "write",
      standard: op,
      object: declared.object,
      params,
      allow: declared.allow,
      longRunning: declared.long_running,
      input,
      ...withDecoder(payloadSchema(template, shape, shape === "create" ? params : []))
    })
  }
  standard("create", "create", "data")
  standard("fetch", "select", "query")
  standard("update", "update", "data")
  standard("delete", "select", "query")
  for (const [name, named] of Object.entries(template.operations.named) as Array<[string, NamedOperation]>) {
    operations.set(name, {
      op: name,
      kind: named.kind,
      standard: undefined,
      object: named.object,
      params: named.params,
      allow: named.allow,
      longRunning: named.long_running,
      input: named.kind === "read" ? "query" : "data",
      ...withDecoder(payloadSchema(template, "named", named.params))
    })
  }
  return { template, operations }
}

/** Whether a caller (its vouched-for roles) may run an operation: its `allow` names "*" or one of the roles. */
export const mayRun = (operation: Pick<CompiledOperation, "allow">, caller: { readonly roles: ReadonlyArray<string> } | undefined) =>
  operation.allow.includes("*") || (caller !== undefined && caller.roles.some((role) => operation.allow.includes(role)))

/** The templates this node serves, compiled once at load. */
export class TemplateRegistry extends Context.Tag("beds/TemplateRegistry")<TemplateRegistry, {
  readonly get: (name: string) => CompiledTemplate | undefined
  /** Every template, in name order. */
  readonly all: ReadonlyArray<CompiledTemplate>
}>() {}

export const makeRegistry = (templates: ReadonlyArray<Template>) => {
  const all = [...templates].sort((a, b) => a.name.localeCompare(b.name)).map(compile)
  const byName = new Map(all.map((compiled) => [compiled.template.name, compiled]))
  return TemplateRegistry.of({ get: (name) => byName.get(name), all })
}

export const TemplateRegistryLive = (templates: ReadonlyArray<Template>) => Layer.succeed(TemplateRegistry, makeRegistry(templates))
