#!/usr/bin/env node
/**
 * The `crust` executable: parse the command, dispatch, exit with its code.
 * The first Ctrl-C (or SIGTERM) asks the command to stop cleanly; a second
 * one exits at once.
 *
 * @packageDocumentation
 */
import { runCli } from './cli.js'
import { processIo } from './io.js'

const interrupt = new AbortController()
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupt.signal.aborted) process.exit(130)
    interrupt.abort()
  })
}

const code = await runCli(process.argv.slice(2), processIo(interrupt.signal))
// Flush stdout (a pipe writes asynchronously), then exit even if a library left a handle open.
process.stdout.write('', () => process.exit(code))
