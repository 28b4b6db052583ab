export declare const freePort: () => Promise<number>
export declare const isListening: (port: number, host?: string, timeoutMs?: number) => Promise<boolean>
export declare const startJongodb: (options?: { port?: number; ownGroup?: boolean }) => Promise<{ uri: string; port: number; stop: () => Promise<void> }>
export declare const startDynalite: (options?: { port?: number }) => Promise<{ endpoint: string; port: number; stop: () => Promise<void> }>
export declare const addVhost: (name: string) => Promise<() => Promise<void>>
export declare const addDatabase: (name: string) => Promise<() => Promise<void>>
export declare const uniqueName: (prefix: string) => string
export declare const startIsolatedServices: (prefix: string) => Promise<{
  runId: string
  mariadbAdmin: { username: string; password: string }
  mongoUri: string
  dynamoEndpoint: string
  stop: () => Promise<void>
}>
