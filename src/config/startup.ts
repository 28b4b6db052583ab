import { Config, Effect, Either, Schema } from "effect"
import { defaultConfigDirectory } from "./directories.js"
import { ConfigError } from "./load.js"
import { Environment } from "./schema.js"

/** The command line: `node dist/main.js [--check]`. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { message: Schema.String }) {}

export const usage = "usage: node dist/main.js [--check]   (--check runs the boot checks only and exits 0 or 1)"

/** `--worker={n}`: how a node's primary starts its worker processes (roles/workers.ts); not for operators. */
const WorkerFlag = Schema.TemplateLiteralParser("--worker=", Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1_024)))

const Flag = Schema.Union(Schema.Literal("--check", "--help"), WorkerFlag)
const Arguments = Schema.Array(Flag)

export interface StartupOptions {
  /** Run the IPL and exit 0 (every step ok) or 1, instead of serving. */
  readonly check: boolean
  readonly help: boolean
  /** Set in a worker process of a multi-process node: which one (1..N). */
  readonly worker?: number
}

export const parseArguments = (argv: ReadonlyArray<string>) =>
  Schema.decodeUnknownEither(Arguments)(argv).pipe(
    Either.map((flags): StartupOptions => {
      const worker = flags.find((flag) => typeof flag !== "string")?.[1]
      return { check: flags.includes("--check"), help: flags.includes("--help"), ...(worker === undefined ? {} : { worker }) }
    }),
    Either.mapLeft(() => {
      const unknown = argv.find((arg) => Either.isLeft(Schema.decodeUnknownEither(Flag)(arg)))
      return new UsageError({ message: `unknown argument ${JSON.stringify(unknown)}; ${usage}` })
    })
  )

/** The two variables that steer loading itself: which env file to layer, and where the files are. */
export const startupSettings = Effect.gen(function*() {
  const rawEnv = yield* Config.string("BEDS_ENV").pipe(Config.withDefault("dev"))
  const env = yield* Schema.decodeUnknown(Environment)(rawEnv).pipe(
    Effect.mapError(() =>
      new ConfigError({ message: `environment variable BEDS_ENV: expected dev | qa | prod, found ${JSON.stringify(rawEnv)}` })
    )
  )
  const directory = yield* Config.string("BEDS_CONFIG_DIR").pipe(Config.withDefault(defaultConfigDirectory))
  return { env, directory }
}).pipe(
  // Effect's Config can fail only when the environment cannot be read at all.
  Effect.mapError((error) => error instanceof ConfigError ? error : new ConfigError({ message: `environment: ${String(error)}` }))
)
