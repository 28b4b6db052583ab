import { FileSystem, Path } from "@effect/platform"
import { Effect, Schema } from "effect"
import { parse as parseToml, TomlError } from "smol-toml"
import { describeProblem, firstProblem } from "../kernel/parse-issue.js"
import { TemplateSchema, type Template } from "./schema.js"

/** A template file that cannot be used; `message` names the file and the key. */
export class TemplateError extends Schema.TaggedError<TemplateError>()("TemplateError", { message: Schema.String }) {}

const decodeTemplate = Schema.decodeUnknownEither(TemplateSchema, { onExcessProperty: "error" })

/** Decodes one template file's text; `source` names it in errors. */
export const parseTemplate = (source: string, text: string): Effect.Effect<Template, TemplateError> =>
  Effect.gen(function*() {
    const table = yield* Effect.try({
      try: () => parseToml(text, { unsafeKeyBehaviour: "throw" }),
      catch: (error) =>
        new TemplateError({
          message: error instanceof TomlError
            ? `${source}:${error.line}:${error.column}: not valid TOML: ${error.message.split("\n")[0]}`
            : `${source}: not valid TOML: ${String(error)}`
        })
    })
    const decoded = decodeTemplate(table)
    if (decoded._tag === "Left") {
      return yield* new TemplateError({ message: `${source}: ${describeProblem(firstProblem(decoded.left.issue))}` })
    }
    return decoded.right
  })

/** Every `*.toml` in the directory, in name order; two files declaring one name or one acronym are refused. */
export const loadTemplates = (directory: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const names = yield* fs.readDirectory(directory).pipe(
      Effect.mapError((error) => new TemplateError({ message: `${directory}: cannot read the template directory: ${error.message}` }))
    )
    const templates: Array<{ readonly file: string; readonly template: Template }> = []
    for (const name of names.filter((n) => n.endsWith(".toml")).sort()) {
      const file = path.join(directory, name)
      const text = yield* fs.readFileString(file).pipe(
        Effect.mapError((error) => new TemplateError({ message: `${file}: cannot read: ${error.message}` }))
      )
      const template = yield* parseTemplate(file, text)
      const clash = templates.find((t) => t.template.name === template.name)
      if (clash !== undefined) {
        return yield* new TemplateError({ message: `${file}: name "${template.name}" is already declared by ${clash.file}` })
      }
      const sameAcronym = templates.find((t) => t.template.acronym === template.acronym)
      if (sameAcronym !== undefined) {
        return yield* new TemplateError({ message: `${file}: acronym "${template.acronym}" is already used by ${sameAcronym.file}` })
      }
      templates.push({ file, template })
    }
    return templates
  })
