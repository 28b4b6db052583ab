import { createHash, createHmac, timingSafeEqual } from "node:crypto"

// How a producer vouches for a request, and a node for its events (docs/protocol.md, Trust): an
// HMAC-SHA256, with a key both sides hold, over a canonical text of what the message means to the
// node that receives it. node:crypto's HMAC and SHA-256: no cryptography of our own.

/** The headers that carry a signature. */
export const KEY_HEADER = "x-beds-key"
export const SIGNED_AT_HEADER = "x-beds-signed-at"
export const SIGNATURE_HEADER = "x-beds-signature"

/** What a signature covers: everything that decides what a message does and where its answer goes. */
export interface Signed {
  readonly keyId: string
  /** Unix ms when it was signed. */
  readonly signedAt: number
  readonly exchange: string
  readonly routingKey: string
  /** Requests: where the reply goes and how it is matched; empty for events. */
  readonly correlationId: string
  readonly replyTo: string
  readonly body: Uint8Array
}

/**
 * The canonical text: `beds-v1`, then the key id, the signing time (decimal ms), the exchange, the
 * routing key, the correlationId, the replyTo and the body's SHA-256 (lower-case hex), one per
 * line, joined by "\n" with no newline at the end.
 */
export const canonicalText = (signed: Signed): string =>
  [
    "beds-v1",
    signed.keyId,
    String(signed.signedAt),
    signed.exchange,
    signed.routingKey,
    signed.correlationId,
    signed.replyTo,
    createHash("sha256").update(signed.body).digest("hex")
  ].join("\n")

/** The signature (base64url of the HMAC-SHA256 of the canonical text under `secret`). */
export const sign = (secret: string, signed: Signed): string => createHmac("sha256", secret).update(canonicalText(signed)).digest("base64url")

/** The headers a signed message carries. */
export const signatureHeaders = (secret: string, signed: Signed): Record<string, string | number> => ({
  [KEY_HEADER]: signed.keyId,
  [SIGNED_AT_HEADER]: signed.signedAt,
  [SIGNATURE_HEADER]: sign(secret, signed)
})

/** Whether `signature` is the signature of `signed` under `secret` (compared in constant time). */
export const verify = (secret: string, signed: Signed, signature: string): boolean => {
  const expected = Buffer.from(sign(secret, signed))
  const given = Buffer.from(signature)
  return expected.length === given.length && timingSafeEqual(expected, given)
}

/** An event on beds.logs is signed like a request with no reply: correlationId and replyTo empty. */
export const eventSigned = (keyId: string, signedAt: number, exchange: string, routingKey: string, body: Uint8Array): Signed => ({
  keyId,
  signedAt,
  exchange,
  routingKey,
  correlationId: "",
  replyTo: "",
  body
})
