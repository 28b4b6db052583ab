import { describe, expect, it } from "vitest"
import { mergePrometheus } from "../../src/telemetry/prometheus-merge.js"

const page = (value: number) => [
  "# HELP target_info Target metadata",
  "# TYPE target_info gauge",
  `target_info{service_name="beds"} 1`,
  "# HELP beds_requests_total Requests handled",
  "# TYPE beds_requests_total counter",
  `beds_requests_total{beds_pool="rBroker",outcome="ok"} ${value}`,
  "",
  "# HELP up_plain A sample without labels",
  "# TYPE up_plain gauge",
  `up_plain ${value}`,
  ""
].join("\n")

describe("mergePrometheus: the primary's page and its workers' as one", () => {
  it("keeps each family together under one header, the workers' samples labelled with the worker", () => {
    const own = "# HELP beds_workers Worker processes\n# TYPE beds_workers gauge\nbeds_workers 2\n"
    const merged = mergePrometheus(own, [{ worker: 1, text: page(5) }, { worker: 2, text: page(7) }])
    expect(merged).toBe([
      "# HELP beds_workers Worker processes",
      "# TYPE beds_workers gauge",
      "beds_workers 2",
      "",
      "# HELP target_info Target metadata",
      "# TYPE target_info gauge",
      `target_info{beds_worker="1",service_name="beds"} 1`,
      `target_info{beds_worker="2",service_name="beds"} 1`,
      "",
      "# HELP beds_requests_total Requests handled",
      "# TYPE beds_requests_total counter",
      `beds_requests_total{beds_worker="1",beds_pool="rBroker",outcome="ok"} 5`,
      `beds_requests_total{beds_worker="2",beds_pool="rBroker",outcome="ok"} 7`,
      "",
      "# HELP up_plain A sample without labels",
      "# TYPE up_plain gauge",
      `up_plain{beds_worker="1"} 5`,
      `up_plain{beds_worker="2"} 7`,
      ""
    ].join("\n"))
  })

  it("a label value holding braces or spaces is left as it is", () => {
    const merged = mergePrometheus("", [{ worker: 3, text: `m{a="x} y"} 1\nm{} 2\n` }])
    expect(merged).toBe(`m{beds_worker="3",a="x} y"} 1\nm{beds_worker="3"} 2\n`)
  })
})
