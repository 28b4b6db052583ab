// The fresh machine's only way out, and only to the npm registry. Two halves, joined by a unix
// socket inside the machine's root directory (network namespaces do not separate unix sockets):
//   outside  SOCKET HOST:PORT...  on the real machine: an HTTP CONNECT proxy on SOCKET that opens a
//                                 tunnel to the listed HOST:PORT pairs only (403 for anything else)
//   inside   SOCKET PORT          in the machine's network namespace: 127.0.0.1:PORT forwarded to
//                                 SOCKET, so npm's https_proxy=http://127.0.0.1:PORT reaches it
// TLS stays end to end between npm and the registry; this only moves bytes.
import { rmSync } from "node:fs"
import net from "node:net"

const [mode, socketPath, ...rest] = process.argv.slice(2)

const join = (a, b) => {
  a.pipe(b).pipe(a)
  a.on("error", () => b.destroy())
  b.on("error", () => a.destroy())
}

if (mode === "outside") {
  const allowed = new Set(rest)
  rmSync(socketPath, { force: true })
  net.createServer((client) => {
    let head = Buffer.alloc(0)
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk])
      const end = head.indexOf("\r\n\r\n")
      if (end < 0) return head.length > 16_384 ? client.destroy() : undefined
      client.off("data", onData)
      const [method, target] = head.subarray(0, head.indexOf("\r\n")).toString("latin1").split(" ")
      if (method !== "CONNECT" || !allowed.has(target)) return client.end("HTTP/1.1 403 Forbidden\r\n\r\n")
      const colon = target.lastIndexOf(":")
      const upstream = net.connect(Number(target.slice(colon + 1)), target.slice(0, colon), () => {
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
        const early = head.subarray(end + 4)
        if (early.length > 0) upstream.write(early)
        join(client, upstream)
      })
      upstream.once("error", () => client.destroy())
    }
    client.on("data", onData)
    client.on("error", () => undefined)
  }).listen(socketPath, () => console.log(`tunnel: ${socketPath} -> ${[...allowed].join(", ")}`))
} else if (mode === "inside") {
  net.createServer((client) => join(client, net.connect(socketPath))).listen(Number(rest[0]), "127.0.0.1")
} else {
  console.error("usage: registry-tunnel.mjs outside SOCKET HOST:PORT... | inside SOCKET PORT")
  process.exit(2)
}
