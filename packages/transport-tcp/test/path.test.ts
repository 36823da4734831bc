import { pathTests } from '@crust/core/testing'
import { describe, it } from 'vitest'
import { tcp } from '../src/index.js'

describe('TCP when the path dies or degrades (through a loopback proxy)', () => {
  for (const t of pathTests({ transports: () => [tcp({ host: '127.0.0.1' })], scheme: 'tcp', proxy: 'tcp' })) it(t.name, t.run, t.timeoutMs)
})
