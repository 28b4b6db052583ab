import type { MessageProperties, Options } from "amqplib"
import { Redacted } from "effect"
import type { BedsConfig } from "../config/schema.js"
import { canonicalReplyTo, EVENTS_EXCHANGE } from "../protocol/routing.js"
import { KEY_HEADER, signatureHeaders, SIGNATURE_HEADER, SIGNED_AT_HEADER, verify } from "../protocol/signature.js"

/** What became of a replay's signature. */
export type Resigned =
  /** The original was signed and its signature holds: signed again now, with the same key, for where it goes now. */
  | { readonly _tag: "Resigned"; readonly properties: Options.Publish; readonly keyId: string }
  /** Unsigned: replayed unsigned (a node that takes no unsigned request answers `unauthenticated`). */
  | { readonly _tag: "Unsigned"; readonly properties: Options.Publish }
  /** Signed, but not re-signed (the reason says why): replayed as it was, which a node will refuse. */
  | { readonly _tag: "NotResigned"; readonly properties: Options.Publish; readonly reason: string }

/**
 * A dead letter's signature is older than any clock skew a node allows by the time an operator
 * replays it, and `--reply-here` changes its replyTo. The replay is signed again, with the key that
 * signed it and a fresh time, only when the original signature holds under that key (from the
 * node's config, which the operator's `beds` reads): an operator re-sends what a producer vouched
 * for and never vouches for anything new. Nothing else is re-signed.
 */
export const resignReplay = (
  keys: BedsConfig["trust"]["keys"],
  original: { readonly routingKey: string; readonly content: Buffer; readonly properties: MessageProperties },
  sent: Options.Publish,
  now: number
): Resigned => {
  const headers = original.properties.headers ?? {}
  const keyId: unknown = headers[KEY_HEADER]
  const signedAt: unknown = headers[SIGNED_AT_HEADER]
  const signature: unknown = headers[SIGNATURE_HEADER]
  if (keyId === undefined && signedAt === undefined && signature === undefined) return { _tag: "Unsigned", properties: sent }
  if (typeof keyId !== "string" || typeof signedAt !== "number" || typeof signature !== "string") {
    return { _tag: "NotResigned", properties: sent, reason: "its signature headers are malformed" }
  }
  const key = keys[keyId]
  if (key === undefined) return { _tag: "NotResigned", properties: sent, reason: `it was signed with key ${keyId}, which this config does not hold` }
  const secret = Redacted.value(key.secret)
  const correlationId = typeof original.properties.correlationId === "string" ? original.properties.correlationId : ""
  const originalReplyTo = typeof original.properties.replyTo === "string" ? original.properties.replyTo : ""
  const signed = { keyId, exchange: EVENTS_EXCHANGE, routingKey: original.routingKey, correlationId, body: original.content }
  if (!verify(secret, { ...signed, signedAt, replyTo: canonicalReplyTo(originalReplyTo) }, signature)) {
    return { _tag: "NotResigned", properties: sent, reason: `its signature does not hold under key ${keyId} (altered, or forged)` }
  }
  const replyTo = typeof sent.replyTo === "string" ? sent.replyTo : originalReplyTo
  return {
    _tag: "Resigned",
    keyId,
    properties: { ...sent, headers: { ...sent.headers, ...signatureHeaders(secret, { ...signed, signedAt: now, replyTo: canonicalReplyTo(replyTo) }) } }
  }
}
