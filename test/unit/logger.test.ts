import { afterEach, describe, expect, it, vi } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { LoggingLive, logFormatFor } from "../../src/logging/logger.js"

const identity = { node: { id: "n7", role: "segundo" as const } }

/** Runs `program` under the node's logger and returns the lines it wrote. */
const captureLines = (config: Parameters<typeof LoggingLive>[0], program: Effect.Effect<void>) => {
  const lines: Array<string> = []
  vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)))
  Effect.runSync(program.pipe(Effect.provide(LoggingLive(config))))
  return lines
}

describe("LoggingLive", () => {
  afterEach(() => vi.restoreAllMocks())

  it("auto means JSON in prod and readable lines in dev and qa", () => {
    expect(logFormatFor({ env: "prod", logging: { level: "info", format: "auto" } })).toBe("json")
    expect(logFormatFor({ env: "dev", logging: { level: "info", format: "auto" } })).toBe("pretty")
    expect(logFormatFor({ env: "qa", logging: { level: "info", format: "auto" } })).toBe("pretty")
    expect(logFormatFor({ env: "prod", logging: { level: "info", format: "pretty" } })).toBe("pretty")
  })

  it("prod: one JSON object per line, with node, env and role on every line", () => {
    const lines = captureLines(
      { ...identity, env: "prod", logging: { level: "info", format: "auto" } },
      Effect.gen(function*() {
        yield* Effect.logInfo("first")
        yield* Effect.logWarning("second").pipe(Effect.annotateLogs({ step: "rabbitmq" }))
      })
    )
    expect(lines).toHaveLength(2)
    const [first, second] = lines.map((line) => JSON.parse(line))
    expect(first).toMatchObject({ message: "first", logLevel: "INFO", annotations: { node: "n7", env: "prod", role: "segundo" } })
    expect(second).toMatchObject({ message: "second", logLevel: "WARN", annotations: { node: "n7", env: "prod", role: "segundo", step: "rabbitmq" } })
  })

  it("dev: one readable line per entry: time, level, node/env/role, message, annotations", () => {
    const lines = captureLines(
      { ...identity, env: "dev", logging: { level: "debug", format: "auto" } },
      Effect.logDebug("hello", "world").pipe(Effect.annotateLogs({ target: "127.0.0.1:5672", degraded: ["a", "b"] }))
    )
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+Z DEBUG n7\/dev\/segundo hello world target=127\.0\.0\.1:5672 degraded=\["a","b"\]$/)
  })

  it("the configured level filters lower levels out", () => {
    const lines = captureLines(
      { ...identity, env: "dev", logging: { level: "warning", format: "pretty" } },
      Effect.gen(function*() {
        yield* Effect.logInfo("dropped")
        yield* Effect.logError("kept")
      })
    )
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain("ERROR n7/dev/segundo kept")
  })

  it("a Redacted value in a message or annotation prints as <redacted>, in both formats", () => {
    for (const format of ["json", "pretty"] as const) {
      const lines = captureLines(
        { ...identity, env: "dev", logging: { level: "info", format } },
        Effect.logInfo("password is", Redacted.make("hunter2")).pipe(Effect.annotateLogs({ password: Redacted.make("hunter2") }))
      )
      expect(lines.join("\n")).not.toContain("hunter2")
      expect(lines.join("\n")).toContain("<redacted>")
    }
  })
})
