import { createHash } from "node:crypto"
import type { Once } from "../adapters/port.js"
import type { Request } from "../protocol/envelope.js"

/**
 * A mutation's idempotency scope: the template and the request's `idempotencyKey`, or, without
 * one, its `lineage.eventId` (unique per request, and the same on every redelivery of it). The
 * fingerprint is what the request means: its operation, its decoded values and its caller's id;
 * a repeat of the scope with another fingerprint is refused (key_reused) and nothing runs.
 */
export const onceOf = (
  request: Request,
  template: string,
  op: string,
  values: Readonly<Record<string, unknown>>,
  retentionS: number
): Once => ({
  scope: `${template}/${request.idempotencyKey ?? request.lineage.eventId}`,
  fingerprint: createHash("sha256")
    .update(JSON.stringify([op, Object.keys(values).sort().map((field) => [field, values[field]]), request.caller?.id ?? null]))
    .digest("hex"),
  retentionS
})
