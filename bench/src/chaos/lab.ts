// The chaos lab: everything the fault runs share, all of it private and on 127.0.0.1: a RabbitMQ
// node and a MariaDB instance of its own (faults stop, kill and restart them), the chaos database
// with its schema applied, a jongodb and a dynalite (only for the appServer's boot checks; the
// chaos template lives on MariaDB), a shared directory, and a temp directory holding all their
// data. `stop` removes every bit of it; a detached reaper does the same if this process dies first.
import { cp, mkdir, mkdtemp, rm } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { startDynalite, startJongodb } from "../../../scripts/local-services.mjs"
import { nodeEnvironment, repoRoot, writeConfigDir } from "./beds-node.js"
import { startPrivateMariaDb, type PrivateMariaDb } from "./private-mariadb.js"
import { startPrivateRabbitMq, type PrivateRabbitMq } from "./private-rabbitmq.js"
import { Cleanups, command, killLabProcesses, LAB_MARKER, startReaper } from "./processes.js"

export const chaosDomain = path.join(repoRoot, "bench", "chaos")

export interface LabOptions {
  /** A MongoDB (or jongodb) to reuse for the boot check; else the lab starts a jongodb. */
  readonly mongodbUri?: string
  /** A DynamoDB endpoint (or dynalite) to reuse for the boot check; else the lab starts a dynalite. */
  readonly dynamodbEndpoint?: string
  readonly log?: (line: string) => void
}

export interface Lab {
  readonly directory: string
  /** The chaos domain's database on the private MariaDB; each run's rows carry the run's key prefix. */
  readonly database: string
  /** What the lab's BEDS nodes are pointed at (nodeOverrides). */
  readonly nodeServices: NodeServices
  readonly markerEnv: Record<string, string>
  readonly rabbit: PrivateRabbitMq
  readonly mariadb: PrivateMariaDb
  readonly mongodbUri: string
  readonly dynamodbEndpoint: string
  /** Only the chaos template: the nodes serve nothing else. */
  readonly templatesDirectory: string
  /** The chaos domain's DBA objects, laid out as `npm run schema:apply` reads them. */
  readonly schemaDirectory: string
  readonly sharedDirectory: string
  readonly versions: { readonly rabbitmq: string; readonly mariadb: string }
  readonly log: (line: string) => void
  readonly stop: () => Promise<void>
}

/** What a node of the lab is pointed at. */
export interface NodeServices {
  readonly rabbitPort: number
  readonly mariadbPort: number
  readonly database: string
  readonly mongodbUri: string
  readonly dynamodbEndpoint: string
  readonly sharedDirectory: string
  readonly templatesDirectory: string
  readonly schemaDirectory: string
}

/** The env_dev.toml of an appServer node on the lab's services, in `vhost`, its broker queues of `queueType`. */
export const nodeOverrides = (services: NodeServices, nodeId: string, vhost: string, queueType: "classic" | "quorum" = "classic") => ({
  config_version: 1,
  node: { id: nodeId, role: "appServer" },
  logging: { level: "info" },
  rabbitmq: { host: "127.0.0.1", port: services.rabbitPort, vhost, username: "guest", password: "guest", queue_type: queueType },
  mariadb: { master: { host: "127.0.0.1", port: services.mariadbPort, database: services.database, username: "root", password: "" } },
  mongodb: { uri: services.mongodbUri, database: "beds_chaos" },
  dynamodb: { endpoint: services.dynamodbEndpoint, region: "us-east-1", access_key_id: "local", secret_access_key: "local" },
  shared_fs: { path: services.sharedDirectory },
  templates: { directory: services.templatesDirectory, schema_directory: services.schemaDirectory }
})

export const startLab = async (options: LabOptions = {}): Promise<Lab> => {
  const log = options.log ?? ((line: string) => console.log(line))
  const directory = await mkdtemp(path.join(os.tmpdir(), "beds-chaos-"))
  const markerEnv = { [LAB_MARKER]: directory }
  startReaper(directory)
  const cleanups = new Cleanups()
  cleanups.add("remove the lab directory", () => rm(directory, { recursive: true, force: true }))
  cleanups.add("kill what is left of the lab", async () => {
    const left = await killLabProcesses(directory)
    if (left > 0) log(`chaos: killed ${left} leftover lab process(es)`)
  })
  try {
    const started = Date.now()
    // Both at once (each takes seconds); both settled before anything is cleaned up.
    const [rabbitStarted, mariadbStarted] = await Promise.allSettled([
      startPrivateRabbitMq({ directory: path.join(directory, "rabbitmq"), markerEnv }),
      startPrivateMariaDb({ directory: path.join(directory, "mariadb"), markerEnv })
    ])
    if (rabbitStarted.status === "fulfilled") cleanups.add("stop the private RabbitMQ node", rabbitStarted.value.stop)
    if (mariadbStarted.status === "fulfilled") cleanups.add("stop the private MariaDB", mariadbStarted.value.stop)
    if (rabbitStarted.status === "rejected") throw rabbitStarted.reason
    if (mariadbStarted.status === "rejected") throw mariadbStarted.reason
    const rabbit = rabbitStarted.value
    const mariadb = mariadbStarted.value
    let mongodbUri = options.mongodbUri
    if (mongodbUri === undefined) {
      // jongodb inherits this process's environment: the marker lets the sweep and the reaper find it.
      process.env[LAB_MARKER] = directory
      const jongodb = await startJongodb().finally(() => delete process.env[LAB_MARKER])
      cleanups.add("stop jongodb", jongodb.stop)
      mongodbUri = jongodb.uri
    }
    let dynamodbEndpoint = options.dynamodbEndpoint
    if (dynamodbEndpoint === undefined) {
      const dynalite = await startDynalite()
      cleanups.add("stop dynalite", dynalite.stop)
      dynamodbEndpoint = dynalite.endpoint
    }

    const schemaDirectory = path.join(directory, "schema")
    for (const store of ["mariadb", "mongodb", "dynamodb"]) await mkdir(path.join(schemaDirectory, store), { recursive: true })
    await cp(path.join(chaosDomain, "schema", "mariadb"), path.join(schemaDirectory, "mariadb"), { recursive: true })
    const sharedDirectory = path.join(directory, "shared")
    await mkdir(sharedDirectory)

    const [rabbitVersion, mariadbVersion] = await Promise.all([
      rabbit.ctl(["version"]).then((out) => out.trim()),
      mariadb.query<Array<{ v: string }>>("SELECT VERSION() AS v").then((rows) => rows[0]?.v ?? "?")
    ])
    // The domain's objects, applied once by the product's own entry point (`npm run schema:apply`,
    // with whatever BEDS applies besides them), from a config like the nodes'.
    const database = "chaos"
    await mariadb.query(`CREATE DATABASE \`${database}\``)
    const services: NodeServices = {
      rabbitPort: rabbit.port, mariadbPort: mariadb.port, database, mongodbUri, dynamodbEndpoint,
      sharedDirectory, templatesDirectory: path.join(chaosDomain, "templates"), schemaDirectory
    }
    const configDir = path.join(directory, "config-schema")
    await writeConfigDir(configDir, nodeOverrides(services, "chaos-schema", "/"))
    await command(process.execPath, [path.join(repoRoot, "dist", "schema-apply.js")], nodeEnvironment(configDir, markerEnv), 60_000)

    log(`chaos: lab up in ${((Date.now() - started) / 1000).toFixed(1)} s under ${directory}: RabbitMQ ${rabbitVersion} node ${rabbit.nodeName} ` +
      `on 127.0.0.1:${rabbit.port} (dist ${rabbit.distPort}, epmd ${rabbit.epmdPort}); MariaDB ${mariadbVersion} on 127.0.0.1:${mariadb.port}`)
    return {
      directory,
      database,
      nodeServices: services,
      markerEnv,
      rabbit,
      mariadb,
      mongodbUri,
      dynamodbEndpoint,
      templatesDirectory: path.join(chaosDomain, "templates"),
      schemaDirectory,
      sharedDirectory,
      versions: { rabbitmq: rabbitVersion, mariadb: mariadbVersion },
      log,
      stop: () => cleanups.runAll()
    }
  } catch (error) {
    await cleanups.runAll()
    throw error
  }
}
