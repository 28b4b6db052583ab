import { CreateTableCommand, DescribeTableCommand, UpdateTimeToLiveCommand, type CreateTableCommandInput } from "@aws-sdk/client-dynamodb"
import { FileSystem, Path } from "@effect/platform"
import { Effect, Schema } from "effect"
import { SchemaFileInvalid } from "./errors.js"
import { makeDynamoClient, type DynamoDbConfig } from "../adapters/dynamodb/client.js"

/** A table declaration file: a CreateTable request, plus an optional TTL attribute. */
const TableFile = Schema.parseJson(Schema.Struct(
  {
    TableName: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_.-]{3,255}$/)),
    KeySchema: Schema.Array(Schema.Struct({ AttributeName: Schema.String, KeyType: Schema.Literal("HASH", "RANGE") })),
    AttributeDefinitions: Schema.Array(Schema.Struct({ AttributeName: Schema.String, AttributeType: Schema.Literal("S", "N", "B") })),
    TimeToLive: Schema.optional(Schema.Struct({ AttributeName: Schema.String }))
  },
  // The rest of CreateTable (billing, indexes, streams) passes through to DynamoDB as the DBA wrote it.
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
))

export interface DynamoApplied {
  readonly table: string
  readonly created: boolean
  /** Set when the server refused the table's TTL (dynalite has none). */
  readonly ttlNotApplied?: string
}

/** Creates each declared table that does not exist yet (idempotent), and sets its TTL attribute. */
export const applyDynamoDbSchema = (config: DynamoDbConfig, directories: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const client = yield* makeDynamoClient(config, { timeoutMs: 10_000, maxAttempts: 3 })
    const results: Array<DynamoApplied> = []
    const files: Array<string> = []
    for (const directory of directories) {
      if (!(yield* fs.exists(directory))) continue
      for (const name of (yield* fs.readDirectory(directory)).filter((n) => n.endsWith(".json")).sort()) files.push(path.join(directory, name))
    }
    for (const file of files) {
      const { TimeToLive, ...input } = yield* Schema.decodeUnknown(TableFile)(yield* fs.readFileString(file)).pipe(
        Effect.mapError((error) => new SchemaFileInvalid({ message: `${file}: ${error.message.split("\n")[0]}` }))
      )
      const exists = yield* Effect.tryPromise(() => client.send(new DescribeTableCommand({ TableName: input.TableName }))).pipe(
        Effect.as(true),
        Effect.catchIf((error) => (error.error as { name?: string }).name === "ResourceNotFoundException", () => Effect.succeed(false))
      )
      if (!exists) yield* Effect.tryPromise(() => client.send(new CreateTableCommand(input as unknown as CreateTableCommandInput)))
      let ttlNotApplied: string | undefined
      if (TimeToLive !== undefined) {
        ttlNotApplied = yield* Effect.tryPromise(() =>
          client.send(new UpdateTimeToLiveCommand({
            TableName: input.TableName,
            TimeToLiveSpecification: { AttributeName: TimeToLive.AttributeName, Enabled: true }
          }))
        ).pipe(Effect.as(undefined), Effect.catchAll((error) => Effect.succeed(String((error.error as Error).message ?? error.error))))
      }
      results.push({ table: input.TableName, created: !exists, ...(ttlNotApplied === undefined ? {} : { ttlNotApplied }) })
    }
    return results
  }).pipe(Effect.scoped)
