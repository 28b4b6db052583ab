// What a signature costs, apart from RabbitMQ and the store: the client's signing and the node's
// check of one request (docs/protocol.md, Trust), per request in µs of CPU, on bodies of the sizes
// the benchmark sends. `node bench/dist/signing.js` after `tsc -p bench/tsconfig.json`.
import { Redacted } from "effect"
import { randomBytes, randomUUID } from "node:crypto"
import type { ConsumeMessage } from "amqplib"
import { makeVerifier } from "../../dist/brokers/trust.js"
import { anonymousTrust, type TrustSettings } from "../../dist/config/trust.js"
import type { Request } from "../../dist/protocol/envelope.js"
import { signatureHeaders } from "../../dist/protocol/signature.js"

const secret = randomBytes(32).toString("base64url")
const settings: TrustSettings = {
  ...anonymousTrust,
  trust: { ...anonymousTrust.trust, anonymous: false, keys: { bench: { producer: "bench", secret: Redacted.make(secret) } } }
}
const verify = makeVerifier(settings, Date.now)
const ROUNDS = 200_000

const request = (payload: number): Request => ({
  version: 1,
  template: "bench_rel",
  op: "create",
  lineage: { eventId: `bench.dev.${randomUUID()}`, parentId: "", depth: 0 },
  data: { payload: "x".repeat(payload) },
  caller: { id: "u1", roles: ["user"] }
})

const cpu = () => {
  const { user, system } = process.cpuUsage()
  return user + system
}

for (const payload of [100, 1_000, 10_000]) {
  const envelope = request(payload)
  const body = Buffer.from(JSON.stringify(envelope))
  const signed = (correlationId: string) => ({
    keyId: "bench",
    signedAt: Date.now(),
    exchange: "beds.events",
    routingKey: "write.bench_rel.create",
    correlationId,
    replyTo: "amq.rabbitmq.reply-to",
    body
  })
  const ids = Array.from({ length: 1_000 }, () => randomUUID())
  // Warm up, then measure signing (the client) and checking (the node) apart.
  for (let i = 0; i < 20_000; i++) signatureHeaders(secret, signed(ids[i % 1_000]!))
  let started = cpu()
  const messages: Array<ConsumeMessage> = []
  for (let i = 0; i < ROUNDS; i++) {
    const headers = signatureHeaders(secret, signed(ids[i % 1_000]!))
    if (i < 1_000) {
      messages.push({
        content: body,
        fields: { exchange: "beds.events", routingKey: "write.bench_rel.create" },
        properties: { headers, replyTo: "amq.rabbitmq.reply-to.g1h2", correlationId: ids[i]! }
      } as unknown as ConsumeMessage)
    }
  }
  const signUs = (cpu() - started) / ROUNDS
  for (let i = 0; i < 20_000; i++) verify(messages[i % 1_000]!, envelope, "amq.rabbitmq.reply-to.g1h2", ids[i % 1_000]!)
  started = cpu()
  let trusted = 0
  for (let i = 0; i < ROUNDS; i++) {
    if (verify(messages[i % 1_000]!, envelope, "amq.rabbitmq.reply-to.g1h2", ids[i % 1_000]!)._tag === "Trusted") trusted++
  }
  const verifyUs = (cpu() - started) / ROUNDS
  if (trusted !== ROUNDS) throw new Error(`only ${trusted} of ${ROUNDS} verified`)
  console.log(`body ${String(body.length).padStart(6)} bytes: sign ${signUs.toFixed(2)} µs, verify ${verifyUs.toFixed(2)} µs per request`)
}
