import { Schema } from "effect"
import { Identifier } from "../protocol/envelope.js"
import { Route } from "../protocol/routing.js"

export const CURRENT_TEMPLATE_VERSION = 1

/** Where a domain's records live: relational (MariaDB), records/documents (MongoDB), key-value (DynamoDB). */
export const StoreClass = Schema.Literal("rel", "rec", "kv")
export const AdapterName = Schema.Literal("mariadb", "mongodb", "dynamodb")
export type AdapterName = typeof AdapterName.Type
/** Each adapter serves one store class; a template names both, and they must agree. */
const storeOf: Readonly<Record<AdapterName, typeof StoreClass.Type>> = { mariadb: "rel", mongodb: "rec", dynamodb: "kv" }

const limit = Schema.Int.pipe(Schema.nonNegative())

/** One field of a domain's records: the rules its values are decoded with at ingress. */
export const FieldSpec = Schema.Struct({
  type: Schema.Literal("string", "integer", "number", "boolean", "timestamp"),
  required: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Strings: length bounds. */
  min_length: Schema.optional(limit),
  max_length: Schema.optional(limit),
  /** Strings: a regular expression the whole value must match. */
  pattern: Schema.optional(Schema.String),
  /** Numbers: inclusive bounds. */
  min: Schema.optional(Schema.Number),
  max: Schema.optional(Schema.Number),
  description: Schema.optional(Schema.String)
})
export type FieldSpec = typeof FieldSpec.Type

/** Who may run an operation: caller roles, or "*" for any caller (including none). */
const Roles = Schema.Array(Schema.String.pipe(Schema.minLength(1)))

const StandardOperation = Schema.Struct({
  /** The database object: a procedure or view (mariadb), collection (mongodb), table (dynamodb). */
  object: Identifier,
  /** Fields passed, in this order, as the procedure's arguments (mariadb create/update). */
  params: Schema.optional(Schema.Array(Identifier)),
  allow: Schema.optionalWith(Roles, { default: () => ["*"] }),
  /** Always run as a job: answered at once with a ticket, sent on route `job` (docs/protocol.md, Tickets). */
  long_running: Schema.optionalWith(Schema.Boolean, { default: () => false })
})

const NamedOperation = Schema.Struct({
  /** read: served on the read route, never changes data; write: on the write route. */
  kind: Schema.Literal("read", "write"),
  /** A procedure (mariadb), a pipeline file's name (mongodb), an index (dynamodb). */
  object: Identifier,
  /** The request fields bound into the object's parameters, in order. */
  params: Schema.Array(Identifier),
  allow: Schema.optionalWith(Roles, { default: () => ["*"] }),
  /** Always run as a job: answered at once with a ticket, sent on route `job` (docs/protocol.md, Tickets). */
  long_running: Schema.optionalWith(Schema.Boolean, { default: () => false })
})
export type NamedOperation = typeof NamedOperation.Type

export const TemplateSchema = Schema.Struct({
  template_version: Schema.Literal(CURRENT_TEMPLATE_VERSION),
  /** The name requests use (`template` in the envelope). */
  name: Identifier,
  /** Three capital letters naming the domain (the seeds' TLA convention); unique among the templates. */
  acronym: Schema.String.pipe(Schema.pattern(/^[A-Z]{3}$/, { message: () => "three capital letters" })),
  description: Schema.optional(Schema.String),
  store: StoreClass,
  adapter: AdapterName,
  /** The field that identifies a record (fetch, update and delete select by it). */
  key: Identifier,
  routes: Schema.optionalWith(Schema.Struct({ read: Route, write: Route }), { default: () => ({ read: "read", write: "write" }) }),
  fields: Schema.Record({ key: Identifier, value: FieldSpec }),
  operations: Schema.Struct({
    create: Schema.optional(StandardOperation),
    fetch: Schema.optional(StandardOperation),
    update: Schema.optional(StandardOperation),
    delete: Schema.optional(StandardOperation),
    named: Schema.optionalWith(Schema.Record({ key: Identifier, value: NamedOperation }), { default: () => ({}) })
  }),
  capabilities: Schema.optionalWith(
    Schema.Struct({
      /** Publish who/when/what of each write to beds.logs (audit.{template}). */
      audit: Schema.optionalWith(Schema.Boolean, { default: () => false }),
      /** Publish before/after of each write to beds.logs (journal.{template}). */
      journal: Schema.optionalWith(Schema.Boolean, { default: () => false }),
      /** Records carry `version`; an update or delete with a stale one is a conflict. */
      optimistic_locking: Schema.optionalWith(Schema.Boolean, { default: () => false }),
      /** Cache fetches this many seconds; 0 = off. Any write to the template clears it on every node. */
      cache_ttl_s: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 86_400)), { default: () => 0 })
    }),
    {
      default: () => ({ audit: false, journal: false, optimistic_locking: false, cache_ttl_s: 0 })
    }
  )
}).pipe(Schema.filter((t) => {
  if (storeOf[t.adapter] !== t.store) return `store "${t.store}" is not adapter ${t.adapter}'s ("${storeOf[t.adapter]}")`
  if (!(t.key in t.fields)) return `key "${t.key}" is not one of the fields`
  // BEDS's own domain: polls read the ticket store's view (docs/protocol.md, Tickets).
  if (t.name === "tickets" && (t.adapter !== "mariadb" || t.operations.fetch === undefined)) {
    return `the name "tickets" is BEDS's ticket poll: a mariadb template with a fetch (see templates/tickets.toml)`
  }
  const namedWrite = Object.entries(t.operations.named).find(([, op]) => op.kind === "write")
  if (namedWrite !== undefined && t.adapter !== "mariadb") return `operation ${namedWrite[0]}: named writes are served on mariadb only`
  for (const [name, op] of Object.entries({ ...t.operations.named, create: t.operations.create, update: t.operations.update })) {
    for (const param of op?.params ?? []) {
      if (!(param in t.fields) && param !== "version") return `operation ${name}: param "${param}" is not a field`
    }
  }
  for (const name of Object.keys(t.operations.named)) {
    if (["create", "fetch", "update", "delete"].includes(name)) return `named operation "${name}" shadows a standard one`
  }
  for (const [name, field] of Object.entries(t.fields)) {
    if (field.pattern !== undefined) {
      try {
        new RegExp(field.pattern)
      } catch {
        return `field ${name}: pattern is not a valid regular expression`
      }
    }
  }
  return true
}))
export type Template = typeof TemplateSchema.Type
