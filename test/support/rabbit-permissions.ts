import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { rabbitAdminRoute } from "../../scripts/rabbit-admin.mjs"

const run = promisify(execFile)

/**
 * Gives `user` every permission on `vhost`, or none (then RabbitMQ refuses its connections there):
 * for tests that must keep a node away from RabbitMQ for as long as they choose.
 */
export const setVhostAccess = async (vhost: string, user: string, allowed: boolean) => {
  const [configure, write, read] = allowed ? [".*", ".*", ".*"] : ["^$", "^$", "^$"]
  if ((await rabbitAdminRoute()) === "api") {
    const response = await fetch(`http://127.0.0.1:15672/api/permissions/${encodeURIComponent(vhost)}/${encodeURIComponent(user)}`, {
      method: allowed ? "PUT" : "DELETE",
      headers: { authorization: `Basic ${Buffer.from("guest:guest").toString("base64")}`, "content-type": "application/json" },
      ...(allowed ? { body: JSON.stringify({ configure, write, read }) } : {}),
      signal: AbortSignal.timeout(10_000)
    })
    if (!response.ok && response.status !== 404) throw new Error(`RabbitMQ management API: permissions: ${response.status}`)
    return
  }
  const env = { ...process.env, PATH: `${process.env["PATH"] ?? ""}:/usr/sbin:/sbin` }
  if (allowed) await run("rabbitmqctl", ["set_permissions", "-p", vhost, user, configure, write, read], { env })
  else await run("rabbitmqctl", ["clear_permissions", "-p", vhost, user], { env })
}
