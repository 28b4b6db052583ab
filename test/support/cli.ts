import { execFile } from "node:child_process"
import path from "node:path"
import { repoRoot } from "./node-process.js"

export const cliScript = path.join(repoRoot, "dist", "cli", "main.js")

export interface CliRun {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs `beds <args>` (dist/cli/main.js) with only the given variables, as an operator would; never rejects. */
export const runCli = (args: ReadonlyArray<string>, variables: Record<string, string>): Promise<CliRun> =>
  new Promise((resolve) => {
    execFile(process.execPath, [cliScript, ...args], {
      env: { PATH: process.env["PATH"] ?? "", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", ...variables },
      timeout: 60_000
    }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
      resolve({ code, stdout, stderr })
    })
  })
