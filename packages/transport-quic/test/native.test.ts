/**
 * Without the native QUIC module (a platform @matrixai/quic publishes no
 * binary for, or an install that skipped it), importing the transport must
 * not break an application that only uses TCP, and starting QUIC fails with
 * a typed error naming the platform and the missing package.
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { QuicUnavailableError } from '../src/index.js'

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url))
const preload = fileURLToPath(new URL('../../quic-lib/test/fixtures/no-native.cjs', import.meta.url))
const app = fileURLToPath(new URL('./fixtures/tcp-app-without-native.ts', import.meta.url))

describe('without the native QUIC module', () => {
  it('the transport imports, TCP works, and QUIC fails at start() with QuicUnavailableError', () => {
    const out = execFileSync(process.execPath, ['--require', preload, '--import', 'tsx', app], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 })
    const result = JSON.parse(out)
    expect(result.imported).toBe(true)
    expect(result.tcpStarted).toBe(true)
    expect(result.quicStarted).toBeUndefined()
    const platform = `${process.platform}-${process.arch}`
    expect(result.quicError).toMatchObject({ typed: true, code: 'ERR_QUIC_UNAVAILABLE', platform: process.platform, arch: process.arch })
    expect(result.quicError.message).toContain(platform)
    expect(result.quicError.message).toContain(`@matrixai/quic-${platform}`)
    expect(result.quicError.packages).toEqual([`@matrixai/quic-${platform}`])
  })

  it('QuicUnavailableError is a CrustError with its own code', () => {
    const error = new QuicUnavailableError('x', { platform: 'p', arch: 'a', packages: [] })
    expect(error.code).toBe('ERR_QUIC_UNAVAILABLE')
    expect(error.name).toBe('QuicUnavailableError')
  })
})
