import { rabbitAdminRoute } from "../../scripts/rabbit-admin.mjs"
import { adminRoute } from "../../scripts/rabbitmq-users.mjs"

/**
 * How the tests apply a user layout on this machine: the route scripts/rabbit-admin.mjs chose for
 * the run (the management API on 127.0.0.1:15672 as guest, or rabbitmqctl as root).
 */
export const testAdminRoute = async () =>
  (await rabbitAdminRoute()) === "api"
    ? adminRoute({ api: "http://127.0.0.1:15672/api", user: "guest", password: "guest" })
    : adminRoute({})
