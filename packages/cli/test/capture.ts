/** Running `runCli` in this process with captured output (fast: no child process, sources via the vitest aliases). */
import { runCli } from '../src/cli.js'
import type { CliIo } from '../src/io.js'

/** The outcome of an in-process run. */
export interface Captured {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Run `crust args...` in process. */
export async function runInProcess(args: readonly string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<Captured> {
  let stdout = ''
  let stderr = ''
  const io: CliIo = {
    stdout: {
      write: (text) => {
        stdout += text
      },
      isTTY: false,
    },
    stderr: {
      write: (text) => {
        stderr += text
      },
      isTTY: false,
    },
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    interrupt: new AbortController().signal,
  }
  const code = await runCli(args, io)
  return { code, stdout, stderr }
}
