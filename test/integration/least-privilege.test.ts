import { NodeContext } from "@effect/platform-node"
import { Effect } from "effect"
import mysql from "mysql2/promise"
import path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { addVhost, uniqueName } from "../../scripts/local-services.mjs"
import { dropNodeAccount, generatePassword, setNodeAccount } from "../../scripts/mariadb-admin.mjs"
import { connectBedsClient } from "../../src/client/promise.js"
import { nodeGrantStatementsFor } from "../../src/schema/node-grants.js"
import { repoRoot, serviceOverrides, startNode, writeConfigDir } from "../support/node-process.js"
import { testServices } from "../support/services.js"

// The node's MariaDB account as `npm run up` makes it (scripts/mariadb-admin.mjs setNodeAccount with
// src/schema/node-grants.ts), here on this run's database: the node serves through it, and it
// cannot touch a base table.
const services = testServices()
const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined)
})

const nodeAccount = async () => {
  const user = uniqueName("beds_t")
  const password = generatePassword()
  const grants = await Effect.runPromise(
    nodeGrantStatementsFor(services.mariadb.database, path.join(repoRoot, "templates")).pipe(Effect.provide(NodeContext.layer))
  )
  cleanups.push(() => dropNodeAccount(user))
  await setNodeAccount(user, password, grants)
  return { user, password, grants }
}

describe("the node's least-privilege MariaDB account", () => {
  it("holds only EXECUTE on the templates' procedures and SELECT on their views; a base table is refused", async () => {
    const { user, password, grants } = await nodeAccount()
    const db = await mysql.createConnection({ host: "127.0.0.1", port: 3306, user, password, database: services.mariadb.database })
    cleanups.push(() => db.end())

    const [shown] = await db.query<Array<mysql.RowDataPacket>>("SHOW GRANTS")
    const lines = shown.map((row) => String(Object.values(row)[0]))
    // USAGE (may log in, nothing else) plus one line per object; nothing at database or global level.
    expect(lines.filter((line) => line.startsWith("GRANT USAGE ON *.*"))).toHaveLength(1)
    expect(lines).toHaveLength(grants.length + 1)
    expect(lines.filter((line) => !line.startsWith("GRANT USAGE"))).toEqual(
      expect.arrayContaining([expect.stringContaining("GRANT EXECUTE ON PROCEDURE"), expect.stringContaining("GRANT SELECT ON")])
    )
    for (const line of lines.filter((line) => !line.startsWith("GRANT USAGE"))) expect(line).not.toMatch(/ON \*\.\*|ON `[^`]+`\.\* /)

    // The view and the procedures work...
    const [created] = await db.query<Array<Array<mysql.RowDataPacket>>>("CALL cus_create(?, ?, NULL, NULL, NULL)", ["Least", `least.${user}@example.com`])
    const id = created[0]![0]!["id"]
    const [viewed] = await db.query<Array<mysql.RowDataPacket>>("SELECT name FROM cus_view WHERE id = ?", [id])
    expect(viewed).toEqual([{ name: "Least" }])
    // ...the table behind them is refused by MariaDB itself: ER_TABLEACCESS_DENIED_ERROR.
    for (const statement of ["SELECT * FROM cus_customers", "UPDATE cus_customers SET name = 'x'", "DELETE FROM cus_customers"]) {
      await expect(db.query(statement)).rejects.toMatchObject({ errno: 1142, message: expect.stringContaining("command denied") })
    }
    await expect(db.query("CREATE TABLE cus_sneaky (id INT)")).rejects.toMatchObject({ errno: 1142 })
  })

  it("is all a node needs: it boots (every template object found) and serves the shipped templates through it", async () => {
    const { user, password } = await nodeAccount()
    const vhost = uniqueName("beds_t")
    cleanups.push(await addVhost(vhost))
    const overrides = serviceOverrides(services, "leastpriv1")
    const configDir = await writeConfigDir({
      "env_dev.toml": { ...overrides, rabbitmq: { ...overrides.rabbitmq, vhost }, mariadb: { master: { ...overrides.mariadb.master, username: user, password } } }
    })
    const node = startNode([], { BEDS_CONFIG_DIR: configDir })
    cleanups.push(async () => {
      node.child.kill("SIGTERM")
      await node.exited(10_000)
    })
    await node.waitForOutput(/node up; SIGINT or SIGTERM stops it/, 30_000)
    expect(node.stdout()).toMatch(/IPL mariadb master: ok/)
    expect(node.stdout()).not.toMatch(/DEGRADED|disabled/)

    const client = await connectBedsClient({ vhost, username: "guest", password: "guest", clientId: "leastpriv" })
    cleanups.push(() => client.close())
    const email = `served.${user}@example.com`
    const created = await client.request({ template: "customers", op: "create", data: { name: "Served", email } })
    expect(created).toMatchObject({ status: "ok", data: { name: "Served", email } })
    const id = (created.status === "ok" ? created.data : {}) as { id: number }
    expect(await client.request({ template: "customers", op: "fetch", query: { id: id.id } })).toMatchObject({ status: "ok", data: { id: id.id, email } })
    expect(await client.request({ template: "customers", op: "by_email", route: "read", query: { email } })).toMatchObject({ status: "ok" })

    // A ticket, through the ticket store's procedures and view only: recorded, run, polled.
    const submitted = await client.request({ template: "customers", op: "create", ticket: true, data: { name: "Ticketed", email: `ticket.${email}` } })
    expect(submitted).toMatchObject({ status: "ok", data: { status: "pending" } })
    const ticketId = (submitted.status === "ok" ? submitted.data : {}) as { ticket_id: string }
    const until = Date.now() + 30_000
    let polled = await client.request({ template: "tickets", op: "fetch", query: { ticket_id: ticketId.ticket_id } })
    while (polled.status === "ok" && ["pending", "running"].includes((polled.data as { status: string }).status) && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      polled = await client.request({ template: "tickets", op: "fetch", query: { ticket_id: ticketId.ticket_id } })
    }
    expect(polled).toMatchObject({ status: "ok", data: { status: "done", result: { name: "Ticketed", email: `ticket.${email}` } } })
  }, 60_000)
})
