// The least-privilege RabbitMQ users of a BEDS vhost (docs/operations.md, "RabbitMQ users"):
//   node      consumes its broker queues, declares its topology, publishes replies, dead letters
//             and events on beds.logs; binds only the configured routes
//   producer  publishes requests on beds.events (only its routes) and reads only its replies
//             (direct reply-to, or queues named with its prefix)
//   operator  reads, replays and purges dead letters (`beds dlq`), nothing else
//
//   node scripts/rabbitmq-users.mjs --vhost /beds --password-dir /etc/beds/rabbitmq \
//     [--node beds-node] [--operator beds-operator] [--producer web] [--producer reports:read] \
//     [--producer batch:write,job:batch.reply.] [--routes read,write,...] [--dry-run] [--remove]
//
// Passwords are never printed, put on a command line or sent in the clear: each user's is read from
// <password-dir>/<user>.password, or generated there (mode 600) when that file is missing, and only
// its salted hash goes to RabbitMQ, in definitions imported through rabbitmqctl's stdin or the
// management API's request body. Administration goes through the management API when RABBITMQ_API
// is set (RABBITMQ_ADMIN_USER and RABBITMQ_ADMIN_PASSWORD from the environment), else through
// rabbitmqctl (run it on the RabbitMQ host, as root or rabbitmq). Plain JavaScript so it runs
// before anything is built.
import { execFile } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import path from "node:path"
import { parseArgs, promisify } from "node:util"
import { parse } from "smol-toml"

const run = promisify(execFile)

/** Every broker type a node may run (src/config/schema.ts BrokerType; a unit test keeps them equal). */
export const BROKER_TYPES = [
  "rBroker", "wBroker", "mBroker",
  "adminBrokerIn", "adminBrokerOut", "adminLogsBroker", "adminSyslogBroker", "adminGraphBroker",
  "whBroker", "cBroker",
  "uBroker", "sBroker"
]

/** The event families nodes publish and bind on beds.logs (src/protocol/routing.ts; a unit test keeps them equal). */
export const LOG_FAMILIES = ["cache.invalidate", "audit", "journal"]

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
const anyOf = (names) => `(${names.map(escape).join("|")})`

/** The request routes config/beds.toml binds (brokers.<type>.routes), in file order. */
export const shippedRoutes = (configFile = path.join(import.meta.dirname, "..", "config", "beds.toml")) =>
  Object.values(parse(readFileSync(configFile, "utf8")).brokers ?? {}).flatMap((settings) => settings.routes ?? [])

/**
 * The users and what each may do on `vhost`: { user, permissions: { configure, write, read },
 * topics: [{ exchange, write, read }] }. Permissions are RabbitMQ's regular expressions over
 * resource names; topic permissions are over routing keys (publishing) and binding keys (binding).
 * `producers`: [{ user, routes (default: all), replyPrefix (optional) }].
 */
export const userLayout = ({ vhost, node = "beds-node", operator = "beds-operator", producers = [], routes = shippedRoutes() }) => {
  const types = anyOf(BROKER_TYPES)
  const families = anyOf(LOG_FAMILIES)
  const nothing = "^$"
  const layout = [{
    user: node,
    role: "node",
    permissions: {
      // Its topology (the exchanges, beds.{type} and its .dlx/.dlq) and the cache listener's server-named queue.
      configure: `^(beds\\.(events|logs)|beds\\.${types}(\\.dlx|\\.dlq)?|amq\\.gen-.*)$`,
      // Dead letters (.dlx), events (beds.logs), replies (the default exchange); write on a queue is for binding it.
      write: `^(beds\\.logs|beds\\.${types}(\\.dlx|\\.dlq)?|amq\\.default|amq\\.gen-.*)$`,
      // Its queues (consume) and the exchanges it binds them to; never a dead-letter queue.
      read: `^(beds\\.(events|logs)|beds\\.${types}(\\.dlx)?|amq\\.gen-.*)$`
    },
    topics: [
      { exchange: "beds.events", write: nothing, read: `^${anyOf(routes)}\\.#$` },
      { exchange: "beds.logs", write: `^${families}\\.`, read: `^${families}\\.` }
    ]
  }]
  for (const producer of producers) {
    const own = producer.replyPrefix === undefined ? nothing : `^${escape(producer.replyPrefix)}.*$`
    layout.push({
      user: producer.user,
      role: "producer",
      // Direct reply-to needs no permission; a reply queue of its own needs its prefix.
      permissions: { configure: own, write: "^beds\\.events$", read: own },
      topics: [{ exchange: "beds.events", write: `^${anyOf(producer.routes ?? routes)}\\.`, read: nothing }]
    })
  }
  layout.push({
    user: operator,
    role: "operator",
    permissions: { configure: nothing, write: "^beds\\.events$", read: `^beds\\.${types}\\.dlq$` },
    topics: []
  })
  return layout.map((entry) => ({ vhost, ...entry }))
}

// --- administration: rabbitmqctl or the management API -------------------------------------------

/**
 * RabbitMQ's own password hash (rabbit_password_hashing_sha256): base64(salt ++ sha256(salt ++
 * password)), 4 random bytes of salt. The layout is imported as definitions carrying this hash,
 * so a password never travels or rests in the clear.
 */
export const passwordHash = (password) => {
  const salt = randomBytes(4)
  return Buffer.concat([salt, createHash("sha256").update(Buffer.concat([salt, Buffer.from(password, "utf8")])).digest()]).toString("base64")
}

/** The layout as RabbitMQ definitions (the format of `rabbitmqctl import_definitions` and POST /api/definitions). */
export const layoutDefinitions = (layout, passwordOf) => ({
  vhosts: [...new Set(layout.map((entry) => entry.vhost))].map((name) => ({ name })),
  users: layout.map((entry) => ({
    name: entry.user,
    password_hash: passwordHash(passwordOf(entry.user)),
    hashing_algorithm: "rabbit_password_hashing_sha256",
    tags: []
  })),
  permissions: layout.map((entry) => ({ user: entry.user, vhost: entry.vhost, ...entry.permissions })),
  topic_permissions: layout.flatMap((entry) => entry.topics.map((topic) => ({ user: entry.user, vhost: entry.vhost, ...topic })))
})

const CTL_ENV = { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` }
const ctl = async (args, input) => {
  const child = run("rabbitmqctl", args, { env: CTL_ENV })
  // import_definitions reads the definitions from stdin (they hold password hashes: never a file or an argument).
  child.child.stdin.end(input ?? "")
  return (await child).stdout
}

const apiClient = ({ api, user = "guest", password = "guest" }) => {
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`
  return async (method, resource, body) => {
    const response = await fetch(`${api.replace(/\/$/, "")}${resource}`, {
      method,
      headers: { authorization, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000)
    })
    if (!response.ok) throw new Error(`RabbitMQ management API: ${method} ${resource}: ${response.status}`)
    return response
  }
}

/**
 * How this script administers RabbitMQ: the management API at `api` (e.g. http://10.0.0.5:15672/api,
 * as `user`), else rabbitmqctl. By default from the environment: RABBITMQ_API, RABBITMQ_ADMIN_USER,
 * RABBITMQ_ADMIN_PASSWORD.
 */
export const adminRoute = (options = {
  api: process.env.RABBITMQ_API || undefined,
  user: process.env.RABBITMQ_ADMIN_USER,
  password: process.env.RABBITMQ_ADMIN_PASSWORD
}) => {
  if (options.api !== undefined) {
    const api = apiClient(options)
    return {
      name: "management API",
      importDefinitions: async (definitions) => void (await api("POST", "/definitions", definitions)),
      deleteUsers: async (users) => void (await api("POST", "/users/bulk-delete", { users }))
    }
  }
  const topicPermissionsOf = async (vhost) =>
    (await ctl(["list_topic_permissions", "-q", "--no-table-headers", "-p", vhost])).split("\n").filter(Boolean)
  return {
    name: "rabbitmqctl",
    importDefinitions: async (definitions) => {
      await ctl(["import_definitions", "--format", "json"], JSON.stringify(definitions))
      // rabbitmqctl calls the import asynchronous: wait until its last part (topic permissions) is in place.
      const expected = definitions.topic_permissions
      for (const deadline = Date.now() + 15_000; ;) {
        const present = new Map()
        for (const vhost of new Set(expected.map((topic) => topic.vhost))) present.set(vhost, await topicPermissionsOf(vhost))
        const missing = expected.filter((topic) => !present.get(topic.vhost).includes([topic.user, topic.exchange, topic.write, topic.read].join("\t")))
        if (missing.length === 0) return
        if (Date.now() > deadline) throw new Error(`rabbitmqctl import_definitions: ${missing.length} topic permissions still missing after 15 s`)
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    },
    deleteUsers: async (users) => {
      await Promise.all(users.map((user) =>
        ctl(["delete_user", user]).catch((error) => {
          if (!/no_such_user|does not exist/.test(String(error.stderr ?? error.message))) throw error
        })))
    }
  }
}

/**
 * Creates or updates each user of `layout` with its password (passwordOf(user)) and sets its
 * permissions and topic permissions, in one import of definitions (and the vhost, if missing).
 * Other users and vhosts are left alone; a topic permission on an exchange no longer in the layout
 * is not removed.
 */
export const applyUserLayout = async (layout, passwordOf, route = adminRoute()) => {
  await route.importDefinitions(layoutDefinitions(layout, passwordOf))
}

/** Deletes the users of `layout` (their permissions go with them). */
export const removeUsers = async (layout, route = adminRoute()) => {
  await route.deleteUsers(layout.map((entry) => entry.user))
}

/**
 * The same layout as a sequence of rabbitmqctl commands, for reading or applying by hand
 * (`--dry-run` prints it): `add_user` without a password argument reads it from stdin.
 */
export const layoutCommands = (layout) => {
  const quote = (text) => `'${text.replace(/'/g, "'\\''")}'`
  return layout.flatMap((entry) => [
    `rabbitmqctl add_user ${entry.user}   # the password on stdin`,
    `rabbitmqctl set_permissions -p ${quote(entry.vhost)} ${entry.user} ${quote(entry.permissions.configure)} ${quote(entry.permissions.write)} ${quote(entry.permissions.read)}`,
    ...entry.topics.map((topic) =>
      `rabbitmqctl set_topic_permissions -p ${quote(entry.vhost)} ${entry.user} ${topic.exchange} ${quote(topic.write)} ${quote(topic.read)}`)
  ])
}

/** A password of 32 URL-safe characters. */
export const generatePassword = () => randomBytes(24).toString("base64url")

/** `<dir>/<user>.password`, made (mode 600, the directory 700) with a fresh password when missing. */
export const passwordFromDirectory = (directory) => (user) => {
  const file = path.join(directory, `${user}.password`)
  if (!existsSync(file)) {
    mkdirSync(directory, { recursive: true, mode: 0o700 })
    writeFileSync(file, `${generatePassword()}\n`, { mode: 0o600, flag: "wx" })
  }
  const password = readFileSync(file, "utf8").trim()
  if (password === "") throw new Error(`${file} is empty`)
  return password
}

const main = async () => {
  const { values } = parseArgs({
    options: {
      vhost: { type: "string" },
      "password-dir": { type: "string" },
      node: { type: "string", default: "beds-node" },
      operator: { type: "string", default: "beds-operator" },
      producer: { type: "string", multiple: true, default: [] },
      routes: { type: "string" },
      "dry-run": { type: "boolean", default: false },
      remove: { type: "boolean", default: false },
      help: { type: "boolean", default: false }
    }
  })
  const usage = "usage: node scripts/rabbitmq-users.mjs --vhost VHOST --password-dir DIR [--node USER] [--operator USER] " +
    "[--producer USER[:ROUTE,ROUTE[:REPLY_PREFIX]]]... [--routes ROUTE,...] [--dry-run] [--remove]"
  if (values.help) return console.log(usage)
  if (values.vhost === undefined) throw new Error(`--vhost is required; ${usage}`)
  const producers = values.producer.map((spec) => {
    const [user, routes, replyPrefix] = spec.split(":")
    if (!user) throw new Error(`--producer ${spec}: expected USER[:ROUTE,ROUTE[:REPLY_PREFIX]]`)
    return { user, ...(routes ? { routes: routes.split(",") } : {}), ...(replyPrefix ? { replyPrefix } : {}) }
  })
  const layout = userLayout({
    vhost: values.vhost,
    node: values.node,
    operator: values.operator,
    producers,
    ...(values.routes === undefined ? {} : { routes: values.routes.split(",") })
  })
  if (values["dry-run"]) return console.log(layoutCommands(layout).join("\n"))
  const route = adminRoute()
  if (values.remove) {
    await removeUsers(layout, route)
    return console.log(`removed ${layout.map((entry) => entry.user).join(", ")} (${route.name})`)
  }
  if (values["password-dir"] === undefined) throw new Error(`--password-dir is required (each user's password is read from or written to DIR/USER.password); ${usage}`)
  await applyUserLayout(layout, passwordFromDirectory(values["password-dir"]), route)
  for (const entry of layout) {
    console.log(`${entry.role} ${entry.user}: permissions set on vhost ${entry.vhost}; password in ${path.join(values["password-dir"], `${entry.user}.password`)}`)
  }
}

if (process.argv[1] !== undefined && import.meta.filename === path.resolve(process.argv[1])) {
  main().catch((error) => {
    console.error(`rabbitmq-users: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  })
}
