import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { MongoNetworkError, MongoNetworkTimeoutError, MongoServerError, MongoServerSelectionError, type TopologyDescription } from "mongodb"
import { classify } from "../../src/adapters/mongodb/core.js"

const tagOf = (error: unknown) =>
  Exit.match(Effect.runSyncExit(classify(error)), {
    onSuccess: () => "none",
    onFailure: (cause) => (Cause.isDie(cause) ? "defect" : Cause.failureOption(cause).pipe((o) => (o._tag === "Some" ? o.value._tag : "none")))
  })

describe("MongoDB errors by class", () => {
  it("a lost connection, a cleared pool, a timeout and no server to select are transient (unavailable), whatever their names", () => {
    expect(tagOf(new MongoNetworkError("connection 5 to 127.0.0.1:27017 closed"))).toBe("Unavailable")
    expect(tagOf(new MongoNetworkTimeoutError("timed out"))).toBe("Unavailable")
    expect(tagOf(new MongoServerSelectionError("no server", { type: "Unknown" } as unknown as TopologyDescription))).toBe("Unavailable")
    // Like the driver's PoolClearedError (raised under load, on Node 26, against jongodb): a network error with a name of its own.
    class PoolClearedError extends MongoNetworkError {
      override get name() {
        return "MongoPoolClearedError"
      }
    }
    const cleared = new PoolClearedError("connection pool for 127.0.0.1:27017 was cleared")
    expect(cleared.name).toBe("MongoPoolClearedError")
    expect(tagOf(cleared)).toBe("Unavailable")
  })

  it("a duplicate key is a conflict; a command the server refuses is a defect", () => {
    expect(tagOf(new MongoServerError({ code: 11000, errmsg: "E11000 duplicate key" }))).toBe("Conflict")
    expect(tagOf(new MongoServerError({ code: 2, errmsg: "bad value" }))).toBe("defect")
    expect(tagOf(new Error("a bug"))).toBe("defect")
    // jongodb's refusal of a second transaction on a pooled session: transient, run again elsewhere.
    expect(tagOf(new MongoServerError({ code: 20, errmsg: "transaction already in progress for this session" }))).toBe("Unavailable")
  })
})
