import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import path from "node:path"
import { repoRoot } from "../support/node-process.js"

/**
 * The import rule of src/ (README, Layout): a folder imports only from floors below its own, never
 * from a sibling on its floor or from above. Floors, top to bottom; the entry files sit on top.
 */
const floors: ReadonlyArray<ReadonlyArray<string>> = [
  ["(entry)", "cli"],
  ["roles"],
  ["gateway"],
  ["ipl"],
  ["brokers", "client", "schema"],
  ["core"],
  ["adapters"],
  ["logging", "platform", "templates", "transport"],
  ["config"],
  ["protocol", "telemetry"],
  ["kernel"]
]
const floorOf = (folder: string) => floors.findIndex((floor) => floor.includes(folder))

const src = path.join(repoRoot, "src")
const sources = (readdirSync(src, { recursive: true }) as Array<string>).filter((file) => file.endsWith(".ts"))
/** The top folder of src/ a file is in, or "(entry)" for main.ts, node.ts and schema-apply.ts. */
const folderOf = (file: string) => (file.includes(path.sep) ? file.split(path.sep)[0]! : "(entry)")

describe("the import graph of src/", () => {
  it("every top folder is on a floor", () => {
    for (const file of sources) expect(floorOf(folderOf(file)), file).toBeGreaterThanOrEqual(0)
  })

  it("flows one way: no folder imports from its own floor's siblings or from a floor above it", () => {
    const backEdges: Array<string> = []
    for (const file of sources) {
      const from = folderOf(file)
      const text = readFileSync(path.join(src, file), "utf8")
      for (const [, specifier] of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
        const target = path.relative(src, path.resolve(path.dirname(path.join(src, file)), specifier!))
        const to = folderOf(target)
        if (to !== from && floorOf(to) <= floorOf(from)) backEdges.push(`${file} -> ${target}`)
      }
    }
    expect(backEdges).toStrictEqual([])
  })
})
