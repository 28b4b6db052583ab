import { Schema } from "effect"

/**
 * Config values arrive from TOML (typed) or from BEDS_* environment variables (always strings),
 * so numeric settings accept an integer or a string holding one.
 */
export const IntegerSetting = Schema.Union(
  Schema.Int,
  Schema.compose(Schema.NumberFromString, Schema.Int)
).annotations({ identifier: "integer" })

export const intBetween = (min: number, max: number) =>
  IntegerSetting.pipe(Schema.filter((n) => (n >= min && n <= max) || `an integer from ${min} to ${max}`))

/** A boolean from TOML, or "true"/"false" from a BEDS_* variable. */
export const BooleanSetting = Schema.Union(Schema.Boolean, Schema.transform(Schema.Literal("true", "false"), Schema.Boolean, {
  decode: (text) => text === "true",
  encode: (value) => (value ? "true" : "false")
})).annotations({ identifier: "boolean" })

/** A secret: held as `Redacted`, so it prints as `<redacted>` in logs and errors. */
export const Secret = Schema.Redacted(Schema.String)
