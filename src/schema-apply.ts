import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Exit } from "effect"
import { loadConfig } from "./config/load.js"
import { startupSettings } from "./config/startup.js"
import { applySchemas } from "./schema/apply.js"

/**
 * `node dist/schema-apply.js` (npm run schema:apply): applies the DBA's schema objects to the
 * stores the config names, idempotently, for dev and test environments. Production schema changes
 * stay with the DBA's own tooling.
 */
const program = (variables: Readonly<Record<string, string | undefined>>) =>
  Effect.gen(function*() {
    const config = yield* loadConfig({ ...(yield* startupSettings), variables })
    const lines = yield* applySchemas(config.templates.schema_directory, {
      mariadb: config.mariadb.master,
      mongodb: config.mongodb,
      dynamodb: config.dynamodb
    })
    for (const line of lines) yield* Console.log(`schema: ${line}`)
    return 0
  }).pipe(
    Effect.catchAll((error) => Console.error(`schema: failed: ${"message" in error ? error.message : String(error)}`).pipe(Effect.as(1))),
    Effect.provide(NodeContext.layer)
  )

NodeRuntime.runMain(program(process.env), {
  disablePrettyLogger: true,
  teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? Number(exit.value) : Cause.isInterruptedOnly(exit.cause) ? 0 : 1)
})
