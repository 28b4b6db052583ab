// Checks that node_modules holds exactly the versions package-lock.json records: every locked
// package that is installed has its locked version, and nothing is installed that the lock lacks.
// Needed because installs use `npm install --no-save` rather than `npm ci` (see README).
import { existsSync, readFileSync } from "node:fs"
import path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const lock = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8"))
const problems = []
let checked = 0
for (const [location, entry] of Object.entries(lock.packages)) {
  if (location === "" || entry.link) continue
  const manifest = path.join(root, location, "package.json")
  if (!existsSync(manifest)) {
    // Only packages for other platforms (optional, skipped here) may be absent.
    if (!entry.optional) problems.push(`${location}: locked ${entry.version} but not installed`)
    continue
  }
  checked++
  const installed = JSON.parse(readFileSync(manifest, "utf8")).version
  if (installed !== entry.version) problems.push(`${location}: installed ${installed}, locked ${entry.version}`)
}
const hidden = JSON.parse(readFileSync(path.join(root, "node_modules", ".package-lock.json"), "utf8"))
for (const location of Object.keys(hidden.packages)) {
  if (!(location in lock.packages)) problems.push(`${location}: installed but not in package-lock.json`)
}
if (problems.length > 0) {
  console.error(`node_modules does not match package-lock.json:\n  ${problems.join("\n  ")}`)
  process.exit(1)
}
console.log(`deps: ${checked} packages match package-lock.json`)
