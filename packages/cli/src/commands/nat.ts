import type { Command } from '../command.js'
import { FailureError } from '../errors.js'

/** `crust nat` (placeholder until @crust/nat lands) */
export const natCommand: Command = {
  name: 'nat',
  summary: 'diagnose the NAT',
  help: 'Usage: crust nat\n',
  async run(): Promise<number> {
    throw new FailureError('not yet available')
  },
}
