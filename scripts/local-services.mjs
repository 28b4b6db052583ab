// Local stand-ins for the services this machine does not run: jongodb (a MongoDB-wire in-memory
// server) and dynalite (a DynamoDB implementation); and one run's own vhost and database on the
// machine's RabbitMQ and MariaDB. Used by `npm run up`, `npm run stand-ins`, the test global setup
// and the bench. Plain JavaScript so it runs before anything is built.
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { createRequire } from "node:module"
import net from "node:net"
import path from "node:path"
import { adminAccount, createDatabase, dropDatabase } from "./mariadb-admin.mjs"
import { addVhost } from "./rabbit-admin.mjs"

const require = createRequire(import.meta.url)

/** A port nothing listens on right now (the OS picks it). */
export const freePort = () =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

/** Whether something accepts TCP connections on host:port. */
export const isListening = (port, host = "127.0.0.1", timeoutMs = 1000) =>
  new Promise((resolve) => {
    const socket = net.connect({ port, host })
    const done = (result) => {
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

/**
 * Starts jongodb on `port` (a free one if not given); resolves when it prints its URI. `ownGroup`:
 * in a process group of its own, so that Ctrl-C on a terminal leaves it to the caller's `stop`.
 */
export const startJongodb = async ({ port, ownGroup = false } = {}) => {
  const chosen = port ?? (await freePort())
  const binary = path.join(path.dirname(require.resolve("@jongodb/memory-server-bin-linux-x64-gnu/package.json")), "bin", "jongodb")
  const child = spawn(binary, ["--host=127.0.0.1", `--port=${chosen}`], { stdio: ["ignore", "pipe", "pipe"], detached: ownGroup })
  const uri = await new Promise((resolve, reject) => {
    let output = ""
    const timer = setTimeout(() => reject(new Error(`jongodb did not start within 30 s: ${output}`)), 30_000)
    const onData = (chunk) => {
      output += chunk
      const match = /JONGODB_URI=(\S+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(match[1])
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`jongodb exited with ${code} before it was ready: ${output}`))
    })
  })
  // Keep reading so a chatty server never blocks on a full pipe.
  child.stdout.resume()
  child.stderr.resume()
  return {
    uri: uri.replace(/\/[^/]*$/, ""),
    port: chosen,
    // jongodb can take seconds to stop on SIGTERM; it holds only memory, so SIGKILL after 3 s is safe.
    stop: () => stopChild(child, 3_000)
  }
}

/** Starts dynalite in this process on `port` (a free one if not given). */
export const startDynalite = async ({ port } = {}) => {
  const chosen = port ?? (await freePort())
  const dynalite = require("dynalite")
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
  await new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(chosen, "127.0.0.1", resolve)
  })
  return {
    endpoint: `http://127.0.0.1:${chosen}`,
    port: chosen,
    stop: () => new Promise((resolve) => server.close(() => resolve()))
  }
}

const stopChild = (child, graceMs) =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill("SIGTERM")
  })

export { addVhost }

/** Creates a MariaDB database (as the administrative account); resolves with the function that drops it. */
export const addDatabase = async (name) => {
  await createDatabase(name)
  return () => dropDatabase(name)
}

/** A name no other run uses: prefix, time, randomness. */
export const uniqueName = (prefix) => `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`

/**
 * Everything one run (a test run, a benchmark) uses of its own: a vhost and a database named
 * `{prefix}_…`, a jongodb and a dynalite on free ports; `mariadbAdmin` is the account that made the
 * database (scripts/mariadb-admin.mjs). `stop` removes all of it, in reverse.
 */
export const startIsolatedServices = async (prefix) => {
  const runId = uniqueName(prefix)
  const cleanups = []
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => console.error("cleanup:", error))
  }
  try {
    cleanups.push(await addVhost(runId))
    cleanups.push(await addDatabase(runId))
    const mongo = await startJongodb()
    cleanups.push(mongo.stop)
    const dynamo = await startDynalite()
    cleanups.push(dynamo.stop)
    const { user, password } = await adminAccount()
    return { runId, mariadbAdmin: { username: user, password }, mongoUri: mongo.uri, dynamoEndpoint: dynamo.endpoint, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
