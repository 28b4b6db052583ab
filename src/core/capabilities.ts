import { Clock, Effect } from "effect"
import { randomUUID } from "node:crypto"
import type { Environment } from "../config/schema.js"
import type { Lineage, Request } from "../protocol/envelope.js"
import type { CoreCall, NamasteCoreService, Row } from "../adapters/port.js"
import { NotFound, type OperationError } from "../protocol/errors.js"
import { auditKey, invalidationKey, journalKey } from "../protocol/routing.js"
import type { Template } from "../templates/schema.js"
import { LogPublisher } from "../transport/publisher.js"
import type { DbCall } from "./instrument.js"
import { ReadCache } from "./read-cache.js"

export interface NodeIdentity {
  readonly node: string
  readonly env: Environment
}

/** An event a request caused (an audit or journal event, a ticket): a child in its lineage tree. */
export const childLineage = (identity: NodeIdentity, parent: Lineage): Lineage => ({
  eventId: `${identity.node}.${identity.env}.${randomUUID()}`,
  parentId: parent.eventId,
  depth: Math.min(parent.depth + 1, 64)
})

/**
 * The template capabilities the factory applies around the adapters, the same for every store:
 * the read cache, and after each write: cache invalidation (every node), audit and journal events.
 */
export const makeCapabilities = (identity: NodeIdentity, dbCall: DbCall) =>
  Effect.gen(function*() {
    const publisher = yield* LogPublisher
    const cache = yield* ReadCache

    /**
     * The record with the call's key. A fetch selects by the key, so no record is not_found on every
     * store. With `cache_ttl_s`, the record comes from the read cache when it holds it: then this is
     * the cache's `Effect.succeed` itself, already done (the Dispatch port's fast path).
     */
    const fetch = (template: Template, call: CoreCall, adapter: NamasteCoreService, parent: Lineage): Effect.Effect<Row, OperationError> => {
      const key = call.values[template.key]
      const load = Effect.flatMap(dbCall(template.adapter, call.object, "fetch", adapter.fetchRecords(call), parent), (rows) =>
        rows[0] === undefined
          ? Effect.fail(new NotFound({ message: `no ${template.name} with ${template.key} ${JSON.stringify(key)}` }))
          : Effect.succeed(rows[0]))
      const ttlMs = template.capabilities.cache_ttl_s * 1000
      return ttlMs === 0 ? load : cache.through(template.name, JSON.stringify(key), ttlMs, load)
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
        if (audit) yield* emit(auditKey(template.name, op), { ...common, kind: "audit", lineage: childLineage(identity, request.lineage) })
        if (journal) {
          yield* emit(journalKey(template.name, op), {
            ...common,
            kind: "journal",
            before: beforeRow,
            after: afterRow,
            lineage: childLineage(identity, request.lineage)
          })
        }
      })

    return { fetch, afterWrite }
  })
