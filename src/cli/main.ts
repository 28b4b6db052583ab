#!/usr/bin/env node
import { Command, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Exit } from "effect"
import { createRequire } from "node:module"
import { bedsCommand } from "./dlq.js"

/** package.json beside the build: the version `beds --version` prints. */
const { version } = createRequire(import.meta.url)("../../package.json") as { readonly version: string }

/**
 * The operator CLI, `beds` (package.json bin). Exit codes: 0 done, 1 an error (one line on stderr,
 * `beds: ...`), 2 a usage error (the CLI's own message and help above it), 130 a prompt quit.
 */
const program = (argv: ReadonlyArray<string>, variables: Readonly<Record<string, string | undefined>>) =>
  Command.run(bedsCommand(variables), { name: "beds", version })(argv).pipe(
    Effect.as(0),
    Effect.catchTags({
      DlqError: (error) => fail(error.message),
      ConfigError: (error) => fail(`config: ${error.message}`),
      QuitException: () => Effect.succeed(130)
    }),
    Effect.catchIf(ValidationError.isValidationError, () => Effect.succeed(2)),
    Effect.provide(NodeContext.layer)
  )

const fail = (line: string) => Console.error(`beds: ${line}`).pipe(Effect.as(1))

// process.env and argv are read here, at the edge, and nowhere else; both are decoded inside.
NodeRuntime.runMain(program(process.argv, process.env), {
  disablePrettyLogger: true,
  teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? Number(exit.value) : Cause.isInterruptedOnly(exit.cause) ? 130 : 1)
})
