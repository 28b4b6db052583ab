import type { MysqlClient } from "@effect/sql-mysql2"
import type { MariaDbEndpoint } from "../../config/schema.js"

/** host:port/database; never the credentials. */
export const mariaDbTarget = (endpoint: MariaDbEndpoint): string =>
  `${endpoint.host}:${endpoint.port}/${endpoint.database}`

export const mysqlClientConfig = (
  endpoint: MariaDbEndpoint,
  options: { readonly maxConnections: number; readonly connectTimeoutMs: number }
): MysqlClient.MysqlClientConfig => ({
  host: endpoint.host,
  port: endpoint.port,
  database: endpoint.database,
  username: endpoint.username,
  password: endpoint.password,
  maxConnections: options.maxConnections,
  poolConfig: { connectTimeout: options.connectTimeoutMs }
})
