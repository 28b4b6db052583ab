import type { Connection } from "mysql2/promise"
export interface AdminAccount { host: string; port: number; user: string; password: string }
export declare const generatePassword: () => string
export declare const adminAccount: () => Promise<AdminAccount>
export declare const withAdmin: <A>(use: (connection: Connection) => Promise<A>) => Promise<A>
export declare const createDatabase: (name: string) => Promise<unknown>
export declare const dropDatabase: (name: string) => Promise<unknown>
export declare const setNodeAccount: (user: string, password: string, grants: ReadonlyArray<string>) => Promise<void>
export declare const dropNodeAccount: (user: string) => Promise<unknown>
