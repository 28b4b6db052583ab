import { Effect, Redacted } from "effect"
import { exportSPKI, generateKeyPair, SignJWT } from "jose"
import { createHash, randomBytes } from "node:crypto"
import { copyFile, mkdtemp, readdir, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { NodeContext } from "@effect/platform-node"
import { addDatabase, addVhost, freePort, uniqueName } from "../../scripts/local-services.mjs"
import { applyDynamoDbSchema } from "../../src/schema/dynamodb.js"
import { applyMariaDbSchema } from "../../src/schema/mariadb.js"
import { applyMongoDbSchema } from "../../src/schema/mongodb.js"
import { makeDevConfigDir, repoRoot, serviceOverrides, startNode, type NodeProcess } from "./node-process.js"
import { testServices } from "./services.js"
import { producerKeyId, trustTable } from "./trust.js"

// A node process with its HTTP gateway on, for test/integration/gateway.test.ts (and the docs page
// screenshot): the contract domains on all three stores, the shipped tickets template, the tickets
// fixture's jobs, and the gateway fixtures, on a vhost and a MariaDB database of its own.

const fixtures = path.join(repoRoot, "test", "fixtures")
export const issuer = "https://issuer.test"
export const audience = "beds-gateway"
export const hsSecret = randomBytes(32).toString("base64url")
/** API keys by caller: the clerk's held by its SHA-256 in config, the admin's as the secret itself. */
export const apiKeys = { clerk: randomBytes(24).toString("base64url"), admin: randomBytes(24).toString("base64url") }

export interface GatewayNode {
  readonly node: NodeProcess
  readonly base: string
  readonly metricsUrl: string
  readonly templatesDir: string
  readonly jwt: (claims: { sub: string; roles?: unknown; aud?: string; expiresIn?: string | number; kid?: "hs" | "ec" }) => Promise<string>
  readonly stop: () => Promise<void>
}

/** `extra` tables are merged over the node's env_dev.toml (e.g. `{ node: { workers: 2 } }`). */
export const startGatewayNode = async (limits: Record<string, number> = {}, extra: { readonly node?: Record<string, unknown> } = {}): Promise<GatewayNode> => {
  const services = testServices()
  const cleanups: Array<() => Promise<unknown>> = []
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined)
  }
  try {
    const vhost = uniqueName("beds_t")
    cleanups.push(await addVhost(vhost))
    const database = uniqueName("beds_tgw")
    cleanups.push(await addDatabase(database))
    const overrides = serviceOverrides(services, "gw1")
    const schemaDirs = (store: string, ...more: Array<string>) => [path.join(repoRoot, "schema", "beds", store), path.join(fixtures, "schema", store), ...more]
    await Effect.runPromise(Effect.all([
      applyMariaDbSchema({ ...services.mariadb, database, password: Redacted.make(services.mariadb.password) },
        schemaDirs("mariadb", path.join(fixtures, "tickets", "schema", "mariadb"), path.join(fixtures, "gateway", "schema", "mariadb"))),
      applyMongoDbSchema({ uri: Redacted.make(services.mongodb.uri), database: services.mongodb.database }, schemaDirs("mongodb")),
      applyDynamoDbSchema({ region: services.dynamodb.region, endpoint: services.dynamodb.endpoint, access_key_id: services.dynamodb.accessKeyId,
        secret_access_key: Redacted.make(services.dynamodb.secretAccessKey) }, schemaDirs("dynamodb"))
    ]).pipe(Effect.provide(NodeContext.layer)))

    const templatesDir = await mkdtemp(path.join(tmpdir(), "beds-gw-templates-"))
    cleanups.push(() => rm(templatesDir, { recursive: true, force: true }))
    const copy = async (from: string, names?: ReadonlyArray<string>) => {
      for (const name of names ?? (await readdir(from)).filter((file) => file.endsWith(".toml"))) await copyFile(path.join(from, name), path.join(templatesDir, name))
    }
    await copy(path.join(fixtures, "templates"))
    await copy(path.join(fixtures, "gateway", "templates"))
    await copy(path.join(fixtures, "tickets", "templates"))
    await copy(path.join(repoRoot, "templates"), ["tickets.toml"])

    const { privateKey, publicKey } = await generateKeyPair("ES256")
    const [port, metricsPort] = [await freePort(), await freePort()]
    const config = await makeDevConfigDir({
      ...overrides,
      node: { ...overrides.node, ...extra.node },
      rabbitmq: { ...overrides.rabbitmq, vhost },
      mariadb: { master: { ...overrides.mariadb.master, database } },
      templates: { directory: templatesDir, schema_directory: path.join(fixtures, "schema") },
      trust: trustTable,
      limits,
      tickets: { claim_interval_s: 1 },
      brokers: { rBroker: { instances: 1 }, wBroker: { instances: 1 } },
      observability: { http_port: metricsPort },
      gateway: {
        enabled: true,
        port,
        max_body_bytes: 4096,
        signing_key: producerKeyId,
        api_keys: {
          clerk: { secret_sha256: createHash("sha256").update(apiKeys.clerk).digest("hex"), roles: ["clerk"] },
          admin: { secret: apiKeys.admin, roles: ["admin", "clerk"] }
        },
        jwt: {
          issuer,
          audience,
          keys: { hs: { alg: "HS256", secret: hsSecret }, ec: { alg: "ES256", public_key: await exportSPKI(publicKey) } }
        }
      }
    })
    cleanups.push(config.remove)
    const node = startNode([], { BEDS_CONFIG_DIR: config.directory })
    cleanups.push(async () => {
      node.child.kill("SIGTERM")
      await node.exited(15_000)
    })
    // "node up; SIGINT ..." or, with workers, "node up; 2 workers serving; SIGINT ...".
    await node.waitForOutput(/node up; .*SIGINT or SIGTERM stops it/, 60_000)
    const jwt: GatewayNode["jwt"] = ({ aud, expiresIn, kid = "hs", roles, sub }) =>
      new SignJWT(roles === undefined ? {} : { roles })
        .setProtectedHeader({ alg: kid === "hs" ? "HS256" : "ES256", kid })
        .setSubject(sub)
        .setIssuer(issuer)
        .setAudience(aud ?? audience)
        .setIssuedAt()
        .setExpirationTime(expiresIn ?? "5m")
        .sign(kid === "hs" ? new TextEncoder().encode(hsSecret) : privateKey)
    return { node, base: `http://127.0.0.1:${port}`, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, templatesDir, jwt, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

/** The sum of a Prometheus counter's series whose labels include `labels`. */
export const counterSum = (text: string, name: string, labels: Record<string, string>) =>
  text.split("\n")
    .filter((line) => line.startsWith(`${name}{`) && Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
    .reduce((sum, line) => sum + Number(line.trim().split(" ").at(-1)), 0)
