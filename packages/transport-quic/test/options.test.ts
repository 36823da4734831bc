import { ConfigError } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { quic } from '../src/index.js'

/** Call `quic(options)` expecting a ConfigError; returns it. */
function configError(options: unknown): ConfigError {
  try {
    quic(options as never)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error('expected quic() to throw')
}

describe('quic() options', () => {
  it('names a misspelt option instead of ignoring it', () => {
    const error = configError({ prot: 4001 })
    expect(error.issues).toEqual([{ path: 'quic.prot', message: 'Unknown option' }])
    expect(error.message).toBe('Invalid quic() options: quic.prot: Unknown option')
  })

  it('refuses out-of-range values at the factory call, not at start()', () => {
    expect(configError({ port: 70_000 }).issues).toEqual([{ path: 'quic.port', message: 'Too big: expected number to be <=65535' }])
    expect(configError({ maxUdpPayloadSize: 10 }).issues).toEqual([{ path: 'quic.maxUdpPayloadSize', message: 'Too small: expected number to be >=1200' }])
  })

  it('checks every option, all problems at once', () => {
    const error = configError({
      host: '',
      socketBufferSize: 0,
      loopbackUdpPayloadSize: 70_000,
      initialMaxData: -1,
      initialMaxStreamData: 1.5,
      maxConnectionWindow: '1',
      maxStreamWindow: 0,
      deadPeerTimeout: 0,
    })
    expect(error.issues.map((i) => i.path)).toEqual([
      'quic.host',
      'quic.socketBufferSize',
      'quic.loopbackUdpPayloadSize',
      'quic.initialMaxData',
      'quic.initialMaxStreamData',
      'quic.maxConnectionWindow',
      'quic.maxStreamWindow',
      'quic.deadPeerTimeout',
    ])
  })

  it('accepts every documented option', () => {
    expect(() => quic()).not.toThrow()
    expect(() =>
      quic({
        port: 4001,
        host: '127.0.0.1',
        socketBufferSize: 1 << 20,
        maxUdpPayloadSize: 1200,
        loopbackUdpPayloadSize: 65527,
        initialMaxData: 1,
        initialMaxStreamData: 1,
        maxConnectionWindow: 1,
        maxStreamWindow: 1,
        deadPeerTimeout: 900,
        retryTokenLifetime: 1,
        statelessReplyRate: 1,
        maxPendingHandshakes: 1,
        foreignDatagramRate: 1,
        dropSummaryInterval: 1,
      }),
    ).not.toThrow()
  })
})
