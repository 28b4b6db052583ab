import { inject } from "vitest"

/** The services of one test run, made by the global setup (test/support/global-setup.ts). */
export interface TestServices {
  readonly runId: string
  readonly rabbitmq: { host: string; port: number; vhost: string; username: string; password: string }
  readonly mariadb: { host: string; port: number; database: string; username: string; password: string }
  readonly mongodb: { uri: string; database: string }
  readonly dynamodb: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string }
  readonly sharedDir: string
}

declare module "vitest" {
  export interface ProvidedContext {
    services: TestServices
  }
}

export const testServices = (): TestServices => inject("services")
