import { execFile } from "node:child_process"
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { promisify } from "node:util"
import { afterEach, describe, expect, it } from "vitest"
import { addVhost, uniqueName } from "../../scripts/local-services.mjs"
import { connectBedsClient } from "../../src/client/promise.js"
import { trustTable } from "../support/trust.js"
import { repoRoot, serviceOverrides, startNode, writeConfigDir } from "../support/node-process.js"
import { notesSchema, notesTemplate } from "../support/notes-domain.js"
import { testServices } from "../support/services.js"

const run = promisify(execFile)
const services = testServices()
const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined)
})

const scratchVhost = async () => {
  const vhost = uniqueName("beds_t")
  cleanups.push(await addVhost(vhost))
  return vhost
}

/** A template directory and a schema directory of the test's own, starting from copies of the shipped ones. */
const scratchDomainDirs = async () => {
  const root = await mkdtemp(path.join(tmpdir(), "beds-domains-"))
  cleanups.push(() => rm(root, { recursive: true, force: true }))
  await cp(path.join(repoRoot, "templates"), path.join(root, "templates"), { recursive: true })
  await cp(path.join(repoRoot, "schema"), path.join(root, "schema"), { recursive: true })
  return { templates: path.join(root, "templates"), schema: path.join(root, "schema") }
}


describe("domains are files", () => {
  it("adding a domain is adding a template and its schema objects: a node started on them serves it over AMQP", async () => {
    const vhost = await scratchVhost()
    const dirs = await scratchDomainDirs()
    await writeFile(path.join(dirs.templates, "notes.toml"), notesTemplate)
    await mkdir(path.join(dirs.schema, "mariadb"), { recursive: true })
    await writeFile(path.join(dirs.schema, "mariadb", "notes.sql"), notesSchema)
    const overrides = serviceOverrides(services, "domains1")
    const configDir = await writeConfigDir({
      "env_dev.toml": { ...overrides, rabbitmq: { ...overrides.rabbitmq, vhost }, templates: { directory: dirs.templates, schema_directory: dirs.schema } }
    })

    // The DBA's step, with the project's own command.
    const applied = await run(process.execPath, [path.join(repoRoot, "dist", "schema-apply.js")], {
      env: { PATH: process.env["PATH"] ?? "", BEDS_CONFIG_DIR: configDir }
    })
    expect(applied.stdout).toMatch(/schema: mariadb: applied beds_idempotency\.sql, beds_tickets\.sql, customers\.sql, notes\.sql/)

    const node = startNode([], { BEDS_CONFIG_DIR: configDir })
    cleanups.push(async () => {
      node.child.kill("SIGTERM")
      await node.exited(10_000)
    })
    await node.waitForOutput(/node up; SIGINT or SIGTERM stops it/, 30_000)
    expect(node.stdout()).toMatch(/templates: 4 of 4 served by this node enabled \(customers, mslogs, notes, tickets\)/)

    const client = await connectBedsClient({ vhost, username: "guest", password: "guest", clientId: "domains" })
    cleanups.push(() => client.close())
    const created = await client.request({ template: "notes", op: "create", data: { body: "adding a domain is adding files" } })
    expect(created).toMatchObject({ status: "ok", data: { body: "adding a domain is adding files" } })
    const id = (created.status === "ok" ? created.data : {}) as { id: number }
    const fetched = await client.request({ template: "notes", op: "fetch", query: { id: id.id } })
    expect(fetched).toMatchObject({ status: "ok", data: { id: id.id, body: "adding a domain is adding files" } })
  }, 90_000)

  it("a template naming an object that does not exist: fatal in prod, disabled with the reason in dev", async () => {
    const dirs = await scratchDomainDirs()
    // The template is there; its DBA objects are not.
    await writeFile(path.join(dirs.templates, "notes.toml"), notesTemplate.replace(/nte_/g, "nte_missing_"))
    const overrides = serviceOverrides(services, "domains2")
    const withDirs = { ...overrides, templates: { directory: dirs.templates, schema_directory: dirs.schema } }
    const configDir = await writeConfigDir({ "env_dev.toml": withDirs, "env_prod.toml": { ...withDirs, trust: trustTable } })

    const prod = startNode(["--check"], { BEDS_CONFIG_DIR: configDir, BEDS_ENV: "prod" })
    expect(await prod.exited(30_000)).toBe(1)
    expect(prod.stderr().trim()).toBe(
      `beds: fatal: IPL step "templates" failed for ${dirs.templates}: notes disabled: missing procedure nte_missing_create, view nte_missing_view`
    )

    const dev = startNode([], { BEDS_CONFIG_DIR: configDir })
    cleanups.push(async () => {
      dev.child.kill("SIGTERM")
      await dev.exited(10_000)
    })
    await dev.waitForOutput(/node up DEGRADED/, 30_000)
    expect(dev.stdout()).toMatch(/templates: 3 of 4 served by this node enabled \(customers, mslogs, tickets\)/)
    expect(dev.stdout()).toContain("node DEGRADED: templates")
    expect(dev.stdout()).toContain("notes disabled: missing procedure nte_missing_create, view nte_missing_view")
  }, 90_000)
})
