import { Clock, Effect } from "effect"
import { randomUUID } from "node:crypto"
import type { Environment } from "../config/schema.js"
import type { Lineage, Request } from "../protocol/envelope.js"
import type { OperationError } from "../protocol/errors.js"
import type { Template } from "../templates/schema.js"
import { LogPublisher } from "../transport/publisher.js"
import type { CoreCall, NamasteCoreService, Row } from "./namaste-core.js"
import { invalidationKey, ReadCache } from "./read-cache.js"

export interface NodeIdentity {
  readonly node: string
  readonly env: Environment
}

/** An event a request caused: a child in its lineage tree. */
const childLineage = (identity: NodeIdentity, parent: Lineage): Lineage => ({
  eventId: `${identity.node}.${identity.env}.${randomUUID()}`,
  parentId: parent.eventId,
  depth: Math.min(parent.depth + 1, 64)
})

/**
 * The template capabilities the factory applies around the adapters, the same for every store:
 * the read cache, and after each write: cache invalidation (every node), audit and journal events.
 */
export const makeCapabilities = (identity: NodeIdentity) =>
  Effect.gen(function*() {
    const publisher = yield* LogPublisher
    const cache = yield* ReadCache

    const fetch = (template: Template, call: CoreCall, adapter: NamasteCoreService): Effect.Effect<ReadonlyArray<Row>, OperationError> => {
      const ttlMs = template.capabilities.cache_ttl_s * 1000
      if (ttlMs === 0) return adapter.fetchRecords(call)
      // The cache holds what fetchRecords returned for this key, so the cast restores its type.
      return cache.through(template.name, JSON.stringify(call.values[template.key]), ttlMs, adapter.fetchRecords(call)) as Effect.Effect<
        ReadonlyArray<Row>,
        OperationError
      >
    }

    /** The record before a write, for the journal; null when the template keeps no journal or cannot fetch. */
    const before = (template: Template, call: CoreCall, adapter: NamasteCoreService) => {
      const fetchOp = template.operations.fetch
      if (!template.capabilities.journal || fetchOp === undefined || call.values[template.key] === undefined) return Effect.succeed(null)
      return adapter.fetchRecords({ ...call, object: fetchOp.object, values: { [template.key]: call.values[template.key] } }).pipe(
        Effect.map((rows) => rows[0] ?? null)
      )
    }

    // The write already happened: an event that cannot be published is logged whole (so it can be
    // recovered from the log), and the caller still gets the write's outcome.
    const emit = (routingKey: string, event: Record<string, unknown>) =>
      publisher.publish(routingKey, event).pipe(
        Effect.catchAll((error) =>
          Effect.logError(`event not published (${error.message}); kept here: ${JSON.stringify(event)}`).pipe(
            Effect.annotateLogs({ routingKey })
          ))
      )

    const afterWrite = (
      template: Template,
      op: string,
      request: Request,
      call: CoreCall,
      beforeRow: Row | null,
      afterRow: Row | null
    ) =>
      Effect.gen(function*() {
        const { audit, cache_ttl_s, journal } = template.capabilities
        if (cache_ttl_s > 0) {
          yield* cache.invalidate(template.name)
          yield* emit(invalidationKey(template.name), { template: template.name })
        }
        if (!audit && !journal) return
        const at = new Date(yield* Clock.currentTimeMillis).toISOString()
        const key = call.values[template.key] ?? afterRow?.[template.key] ?? null
        const common = { version: 1, template: template.name, op, key, at, caller: request.caller ?? null }
        if (audit) yield* emit(`audit.${template.name}.${op}`, { ...common, kind: "audit", lineage: childLineage(identity, request.lineage) })
        if (journal) {
          yield* emit(`journal.${template.name}.${op}`, {
            ...common,
            kind: "journal",
            before: beforeRow,
            after: afterRow,
            lineage: childLineage(identity, request.lineage)
          })
        }
      })

    return { fetch, before, afterWrite }
  })
