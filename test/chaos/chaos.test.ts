// The chaos suite, short: one run of each fault (a few hundred requests each) against a private
// RabbitMQ node and a private MariaDB instance that this file starts and removes (the machine's
// services are never touched), two BEDS nodes and a client that resends what was not answered.
// `npm run chaos` is the full version (docs/reliability.md). Duplicated effects are asserted only
// once EXACTLY_ONCE (bench/src/chaos/exactly-once.ts) is true; until then they are printed.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { FaultResult } from "../../bench/src/chaos/analyse.js"
import { EXACTLY_ONCE } from "../../bench/src/chaos/exactly-once.js"
import { faults } from "../../bench/src/chaos/faults.js"
import { startLab, type Lab } from "../../bench/src/chaos/lab.js"
import { SHORT } from "../../bench/src/chaos/profiles.js"
import { tableRows } from "../../bench/src/chaos/report.js"
import { runFault } from "../../bench/src/chaos/run-fault.js"

let lab: Lab | undefined
const results: Array<FaultResult> = []

beforeAll(async () => {
  // Its own jongodb and dynalite too (for the nodes' boot checks): nothing shared with other tests.
  lab = await startLab()
}, 120_000)

afterAll(async () => {
  if (results.length > 0) console.log(["chaos (short), EXACTLY_ONCE = " + String(EXACTLY_ONCE), ...tableRows(results)].join("\n"))
  await lab?.stop()
}, 120_000)

describe("chaos (short): faults under a keyed create/read load, the ledger against the rows", () => {
  for (const fault of faults) {
    const claim = EXACTLY_ONCE ? "every create answered ok has exactly one row" : "every create answered ok has its row"
    it(`${fault.title}: ${claim}`, async () => {
      const result = await runFault(lab!, fault, SHORT)
      results.push(result)

      expect(result.sent).toBeGreaterThanOrEqual(SHORT.requests)
      expect(result.strangerRows, "rows whose ledger value no request carried").toBe(0)
      if (fault.inject === undefined) {
        expect(result.ok, "with no fault every request is answered ok").toBe(result.sent)
      } else {
        expect(result.window?.applied, `the fault happened: ${result.window?.evidence}`).toBe(true)
        expect(result.okAfterFault, "answers came back after the fault").toBeGreaterThan(0)
      }
      if (fault.everyRequestOk === true) {
        // A node taken away while another consumes the same queues: the others answer everything.
        expect({ errors: result.errors, unanswered: result.unanswered }, "no request left without an ok").toEqual({ errors: {}, unanswered: 0 })
        expect(result.ok, "every request answered ok").toBe(result.sent)
      }
      expect(result.lost, `creates answered ok without a row: ${result.lostKeys.join(", ")}`).toBe(0)
      // A fault of a service is transient (unavailable, resent), never a defect of BEDS.
      expect(result.errors["internal"] ?? 0, `internal replies: ${JSON.stringify(result.errors)}`).toBe(0)

      const duplicated = result.duplicated
      if (EXACTLY_ONCE) {
        expect(duplicated, `keys that ran more than once: ${result.duplicatedKeys.join(", ")}`).toBe(0)
      } else if (duplicated > 0) {
        console.log(`chaos: ${fault.title}: ${duplicated} keys ran more than once (${result.extraRows} extra rows); ` +
          "not asserted while EXACTLY_ONCE is false")
      }
    }, 150_000)
  }
})
