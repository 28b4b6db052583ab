import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { parseTemplate } from "../../src/templates/load.js"
import { notesTemplate } from "../support/notes-domain.js"

const valid = notesTemplate
const errorOf = (text: string) =>
  Effect.runSync(parseTemplate("templates/notes.toml", text).pipe(Effect.flip, Effect.map((e) => e.message)))

describe("template files", () => {
  it("a valid file decodes, with defaults filled in", () => {
    const template = Effect.runSync(parseTemplate("templates/notes.toml", valid))
    expect(template).toMatchObject({ name: "notes", routes: { read: "read", write: "write" } })
    expect(template.operations.create).toMatchObject({ object: "nte_create", allow: ["*"] })
    expect(template.capabilities).toStrictEqual({ audit: false, journal: false, optimistic_locking: false, cache_ttl_s: 0 })
  })

  it("a bad file is refused with its path and the key", () => {
    expect(errorOf(valid.replace('acronym = "NTE"', 'acronym = "notes"'))).toBe('templates/notes.toml: acronym: expected three capital letters, found "notes"')
    expect(errorOf(valid.replace('type = "integer"', 'type = "int"'))).toMatch(/^templates\/notes\.toml: fields\.id\.type: expected "string" \| "integer"/)
    expect(errorOf(valid.replace('object = "nte_create"', 'object = "nte; DROP TABLE x"'))).toMatch(/^templates\/notes\.toml: operations\.create\.object: expected an identifier/)
    expect(errorOf(`colour = "red"\n${valid}`)).toBe('templates/notes.toml: colour: unknown key (found "red")')
    expect(errorOf(valid.replace('key = "id"', 'key = "uuid"'))).toMatch(/^templates\/notes\.toml: \(top level\): expected key "uuid" is not one of the fields/)
    expect(errorOf(valid.replace('params = ["body"]', 'params = ["title"]'))).toMatch(/operation create: param "title" is not a field/)
    expect(errorOf("name = ")).toMatch(/^templates\/notes\.toml:1:\d+: not valid TOML/)
    expect(errorOf(valid.replace('store = "rel"', 'store = "kv"'))).toBe(
      'templates/notes.toml: (top level): expected store "kv" is not adapter mariadb\'s ("rel"), found an object'
    )
  })
})
