import { Schema } from "effect"
import type { FieldSpec, Template } from "./schema.js"

/** Strings without a declared max_length are still bounded: oversized input is refused, not stored. */
export const DEFAULT_MAX_STRING = 65_535

/** Characters as people and MariaDB count them: Unicode code points, not UTF-16 code units. */
const characters = (text: string): number => {
  let count = 0
  for (const _ of text) count++
  return count
}

// A string never has more code points than code units, nor fewer than half as many: count only when it matters.
// JSON Schema's maxLength and minLength count code points too (the gateway's OpenAPI document).
const maxCharacters = (max: number) =>
  Schema.filter<Schema.Schema<string>>((text) => text.length <= max || characters(text) <= max, {
    message: () => `at most ${max} characters`,
    jsonSchema: { maxLength: max }
  })
const minCharacters = (min: number) =>
  Schema.filter<Schema.Schema<string>>((text) => text.length >= 2 * min || characters(text) >= min, {
    message: () => `at least ${min} characters`,
    jsonSchema: { minLength: min }
  })

/** A field's Schema, with its description (shown in the gateway's OpenAPI document). */
export const fieldSchema = (spec: FieldSpec): Schema.Schema<unknown, unknown> =>
  spec.description === undefined ? baseFieldSchema(spec) : baseFieldSchema(spec).annotations({ description: spec.description })

const baseFieldSchema = (spec: FieldSpec): Schema.Schema<unknown, unknown> => {
  switch (spec.type) {
    case "string": {
      let schema: Schema.Schema<string> = Schema.String.pipe(maxCharacters(spec.max_length ?? DEFAULT_MAX_STRING))
      if (spec.min_length !== undefined) schema = schema.pipe(minCharacters(spec.min_length))
      if (spec.pattern !== undefined) schema = schema.pipe(Schema.pattern(new RegExp(`^(?:${spec.pattern})$`)))
      return schema as Schema.Schema<unknown, unknown>
    }
    case "integer":
    case "number": {
      let schema = spec.type === "integer" ? Schema.Int : Schema.Number.pipe(Schema.finite())
      if (spec.min !== undefined) schema = schema.pipe(Schema.greaterThanOrEqualTo(spec.min))
      if (spec.max !== undefined) schema = schema.pipe(Schema.lessThanOrEqualTo(spec.max))
      return schema as Schema.Schema<unknown, unknown>
    }
    case "boolean":
      return Schema.Boolean as Schema.Schema<unknown, unknown>
    case "timestamp":
      return Schema.String.pipe(
        Schema.pattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/, {
          message: () => "an ISO 8601 timestamp",
          jsonSchema: { format: "date-time" }
        })
      ) as Schema.Schema<unknown, unknown>
  }
}

const Version = Schema.Int.pipe(Schema.positive()).annotations({ description: "The record's version (optimistic locking)" })

type Shape = "create" | "update" | "select" | "named"

/**
 * The Schema a request's data or query is decoded with, per operation, built once at load time:
 * - create: the operation's params (default: every field), required ones required; no version
 * - update: the key, any other fields, and `version` when the template locks optimistically
 * - select (fetch, delete): the key (and, for delete with locking, an optional version)
 * - named: exactly the operation's params, each with its field's rules, all required
 * Unknown fields are refused, naming the field.
 */
export const payloadSchema = (template: Template, shape: Shape, params: ReadonlyArray<string> = []) => {
  const fields: Record<string, Schema.Schema.Any | Schema.PropertySignature.Any> = {}
  const locking = template.capabilities.optimistic_locking
  const add = (name: string, required: boolean) => {
    const spec = template.fields[name]!
    fields[name] = required ? fieldSchema(spec) : Schema.optional(fieldSchema(spec))
  }
  switch (shape) {
    case "create":
      for (const name of params.length > 0 ? params : Object.keys(template.fields)) add(name, template.fields[name]!.required)
      break
    case "update":
      for (const name of Object.keys(template.fields)) add(name, name === template.key)
      if (locking) fields["version"] = Version
      break
    case "select":
      add(template.key, true)
      if (locking) fields["version"] = Schema.optional(Version)
      break
    case "named":
      for (const name of params) name === "version" ? (fields["version"] = Version) : add(name, true)
      break
  }
  return Schema.Struct(fields) as unknown as Schema.Schema<Record<string, unknown>, unknown>
}
