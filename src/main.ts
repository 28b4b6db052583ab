import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Either, Exit, Layer, RuntimeFlags } from "effect"
import { fileURLToPath } from "node:url"
import { loadConfig } from "./config/load.js"
import { parseArguments, startupSettings, usage } from "./config/startup.js"
import { roundMs } from "./ipl/runner.js"
import { LoggingLive } from "./logging/logger.js"
import { runNode } from "./node.js"
import { ParentChannelLive } from "./roles/parent.js"
import { TelemetryLive } from "./roles/telemetry.js"
import { runWorker } from "./roles/worker.js"

/**
 * The one entry point for every role. Fatal startup errors (bad arguments, bad config, a failed
 * boot step in prod) are one plain line on stderr and exit code 1; SIGINT/SIGTERM exit 0.
 */
const program = (argv: ReadonlyArray<string>, variables: Readonly<Record<string, string | undefined>>, entry: string) =>
  Effect.gen(function*() {
    const options = yield* Either.match(parseArguments(argv), { onLeft: Effect.fail, onRight: Effect.succeed })
    if (options.help) return yield* Console.log(usage).pipe(Effect.as(0))
    const settings = yield* startupSettings
    const [loadDuration, config] = yield* Effect.timed(loadConfig({ ...settings, variables }))
    const configStep = { name: "config loaded", target: config.sources.join(" + "), ok: true, durationMs: roundMs(loadDuration) }
    const worker = options.worker
    if (worker !== undefined) {
      // A worker process of a multi-process node, started by its primary (roles/workers.ts).
      if (!hasParent) return yield* fatal("--worker is how a node's primary starts its workers; run node dist/main.js without it")
      return yield* runWorker(config, worker).pipe(
        Effect.provide(Layer.mergeAll(LoggingLive(config, worker), TelemetryLive(config, worker), ParentChannelLive))
      )
    }
    return yield* runNode(config, options, configStep, entry).pipe(Effect.provide(Layer.merge(LoggingLive(config), TelemetryLive(config))))
  }).pipe(
    Effect.catchTags({
      UsageError: (error) => fatal(error.message),
      ConfigError: (error) => fatal(`config: ${error.message}`),
      IplFailed: (error) => fatal(error.message)
    }),
    // Effect counts every fiber's start, end and lifetime by default; BEDS reads none of those
    // metrics, and a message's fiber paid for them on the hot path (BENCHMARKS.md).
    Effect.provide(Layer.merge(NodeContext.layer, RuntimeFlags.disableRuntimeMetrics))
  )

const fatal = (line: string) => Console.error(`beds: fatal: ${line}`).pipe(Effect.as(1))

// process.env and argv are read here, at the edge, and nowhere else; both are decoded inside. A
// worker's primary is the parent at the other end of its IPC channel.
const hasParent = process.send !== undefined
const isWorker = process.argv.some((arg) => arg.startsWith("--worker="))
NodeRuntime.runMain(program(process.argv.slice(2), process.env, fileURLToPath(import.meta.url)), {
  // The node installs its own logger (logging/logger.ts); runMain's pretty logger would double every line.
  disablePrettyLogger: true,
  // Exit with the program's code even when a driver leaves a timer or socket behind.
  // A worker exits at once too: its IPC channel to the primary would keep it alive.
  teardown: (exit, onExit) => {
    const code = Exit.isSuccess(exit) ? Number(exit.value) : Cause.isInterruptedOnly(exit.cause) ? 0 : 1
    if (isWorker) process.exit(code)
    onExit(code)
  }
})
