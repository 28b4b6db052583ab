import { Effect } from "effect"
import path from "node:path"
import type { DynamoDbConfig } from "../adapters/dynamodb/client.js"
import type { MongoDbConfig } from "../adapters/mongodb/client.js"
import { bedsSchemaDirectory } from "../config/directories.js"
import type { MariaDbEndpoint } from "../config/schema.js"
import { applyDynamoDbSchema } from "./dynamodb.js"
import { applyMariaDbSchema } from "./mariadb.js"
import { applyMongoDbSchema } from "./mongodb.js"

export interface SchemaTargets {
  readonly mariadb?: MariaDbEndpoint
  readonly mongodb?: MongoDbConfig
  readonly dynamodb?: DynamoDbConfig
}

/**
 * Applies BEDS's own objects (schema/beds: the idempotency store) and then the DBA's objects under
 * `directory` (mariadb/*.sql, mongodb/*.json, dynamodb/*.json) to each given store, idempotently.
 * Returns one line per thing done or not done, for people to read.
 */
export const applySchemas = (directory: string, targets: SchemaTargets) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const directories = (store: string) => [path.join(bedsSchemaDirectory, store), path.join(directory, store)]
    if (targets.mariadb !== undefined) {
      const files = yield* applyMariaDbSchema(targets.mariadb, directories("mariadb"))
      lines.push(`mariadb: applied ${files.join(", ") || "nothing"}`)
    }
    if (targets.mongodb !== undefined) {
      for (const applied of yield* applyMongoDbSchema(targets.mongodb, directories("mongodb"))) {
        lines.push(`mongodb: ${applied.collection}: indexes ${applied.indexes.join(", ")}` +
          (applied.validatorNotApplied === undefined ? ", validator applied" : `; validator NOT applied (${applied.validatorNotApplied})`))
      }
    }
    if (targets.dynamodb !== undefined) {
      for (const applied of yield* applyDynamoDbSchema(targets.dynamodb, directories("dynamodb"))) {
        lines.push(`dynamodb: ${applied.table}: ${applied.created ? "created" : "exists"}` +
          (applied.ttlNotApplied === undefined ? "" : `; TTL NOT applied (${applied.ttlNotApplied})`))
      }
    }
    return lines
  })
