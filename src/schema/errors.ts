import { Schema } from "effect"

/** A DBA schema file that cannot be applied: `message` names the file and what is wrong. */
export class SchemaFileInvalid extends Schema.TaggedError<SchemaFileInvalid>()("SchemaFileInvalid", { message: Schema.String }) {}
