// `npm run up`'s build step: runs `npm run build` (tsc) only when its inputs changed since the last
// build this script made: every file under src/, the tsconfig files and package-lock.json. The
// digest of those inputs is kept in dist/.build-inputs.sha256.
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const stamp = path.join(root, "dist", ".build-inputs.sha256")

const filesUnder = (directory) =>
  readdirSync(directory, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))

const inputs = [
  ...filesUnder(path.join(root, "src")),
  ...["tsconfig.base.json", "tsconfig.build.json", "package-lock.json"].map((name) => path.join(root, name))
].sort()
const hash = createHash("sha256")
for (const file of inputs) hash.update(path.relative(root, file)).update("\0").update(readFileSync(file)).update("\0")
const digest = hash.digest("hex")

if (existsSync(path.join(root, "dist", "main.js")) && existsSync(stamp) && readFileSync(stamp, "utf8").trim() === digest) {
  console.log("build: dist/ is current (src/, tsconfig and lock unchanged); not rebuilt")
} else {
  const built = spawnSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" })
  if (built.status !== 0) process.exit(built.status ?? 1)
  writeFileSync(stamp, `${digest}\n`)
  console.log("build: dist/ rebuilt")
}
