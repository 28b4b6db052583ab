import { describe, expect, it } from "@effect/vitest"
import { Cause } from "effect"
import { settlementOf as settle } from "../../src/brokers/policy.js"
import { errorCatalog } from "../../src/protocol/errors.js"

const lineage = { eventId: "n1.dev.0b7e2f5a-1c2d-4e5f-8a9b-0c1d2e3f4a5b", parentId: "", depth: 0 }

describe("settlementOf: the ack/dead-letter policy", () => {
  it("success: ok reply, ack", () => {
    expect(settle({ _tag: "Succeeded", data: { id: 1 } }, lineage)).toStrictEqual({
      reply: { version: 1, status: "ok", data: { id: 1 }, lineage },
      deadLetter: undefined,
      replaceBroker: false
    })
  })

  it.each(["validation", "not_found", "forbidden", "conflict", "deadline_exceeded"] as const)("%s: error reply, ack (no dead letter)", (code) => {
    const settlement = settle({ _tag: "Failed", code, message: "why" }, lineage)
    expect(settlement.reply).toStrictEqual({
      version: 1,
      status: "error",
      error: { code, tag: errorCatalog[code].tag, message: "why", retryable: false },
      lineage
    })
    expect(settlement.deadLetter).toBeUndefined()
    expect(settlement.replaceBroker).toBe(false)
  })

  it("unavailable (after its retries): retryable error reply and a dead letter with the reason", () => {
    const settlement = settle({ _tag: "Failed", code: "unavailable", message: "deadlock" }, lineage)
    expect(settlement.reply.status === "error" && settlement.reply.error).toMatchObject({ code: "unavailable", retryable: true })
    expect(settlement.deadLetter).toStrictEqual({ code: "unavailable", reason: "deadlock" })
  })

  it("undecodable: bad_envelope reply (with the lineage when one was readable), dead letter with the reason", () => {
    expect(settle({ _tag: "Refused", code: "bad_envelope", reason: "body: extra: unknown key (found 1)" }, lineage).reply).toMatchObject({ lineage })
    const settlement = settle({ _tag: "Refused", code: "bad_envelope", reason: "body is not UTF-8 JSON" }, undefined)
    expect(settlement.reply).toStrictEqual({
      version: 1,
      status: "error",
      error: { code: "bad_envelope", tag: "BadEnvelope", message: "body is not UTF-8 JSON", retryable: false }
    })
    expect(settlement.deadLetter).toStrictEqual({ code: "bad_envelope", reason: "body is not UTF-8 JSON" })
  })

  it("too large: too_large reply, not retryable, and no dead letter (an oversized body is not kept anywhere)", () => {
    const settlement = settle({ _tag: "Refused", code: "too_large", reason: "body of 2000000 bytes exceeds limits.max_message_bytes (1048576)" }, undefined)
    expect(settlement.reply.status === "error" && settlement.reply.error).toMatchObject({ code: "too_large", retryable: false })
    expect(settlement.deadLetter).toBeUndefined()
  })

  it("defect: internal reply with a reference only, dead letter, and the broker is replaced", () => {
    const settlement = settle({ _tag: "Defect", reference: lineage.eventId, cause: Cause.die(new Error("secret detail")) }, lineage)
    expect(settlement.reply.status === "error" && settlement.reply.error).toStrictEqual({
      code: "internal",
      tag: "Internal",
      message: `internal error (reference ${lineage.eventId})`,
      retryable: false
    })
    expect(settlement.deadLetter).toStrictEqual({ code: "internal", reason: `defect (see the node log for ${lineage.eventId})` })
    // The defect's own text stays in the node's log.
    expect(JSON.stringify(settlement)).not.toContain("secret detail")
    expect(settlement.replaceBroker).toBe(true)
  })
})
