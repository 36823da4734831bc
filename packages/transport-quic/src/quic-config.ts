import type { SecurityContext, TransportLimits } from '@crust/core'
import type { QUICClientConfigInput, QUICServerConfigInput, TLSVerifyCallback } from '@crust/quic-lib'
import type { ResolvedQuicOptions } from './options.js'
import { CHANNEL_ALPN, MAX_PEER_CHANNELS, PLAIN_ALPN } from './message-channel.js'

/** The timing the core's limits translate to in QUIC terms. */
export interface Liveness {
  /** QUIC `max_idle_timeout` (ms): a connection that hears nothing this long is closed. Never 0. */
  readonly maxIdleTimeout: number
  /** PING interval (ms), or undefined for none. Always below {@link maxIdleTimeout}. */
  readonly keepAliveInterval: number | undefined
}

/**
 * `idleTimeout` and `keepAliveInterval` of the core, made safe for QUIC: an
 * idle timeout of 0 would let connections to vanished peers live forever
 * (in the server's connection map too), so a dead-peer timeout stands in,
 * with keep-alives that keep live peers connected.
 */
export function livenessOf(limits: TransportLimits, options: ResolvedQuicOptions): Liveness {
  if (limits.idleTimeout > 0) {
    const keepAlive = limits.keepAliveInterval > 0 ? Math.min(limits.keepAliveInterval, Math.floor(limits.idleTimeout / 2)) : undefined
    // The connection closes itself with IDLE_TIMEOUT at `idleTimeout` (telling the peer);
    // quiche's silent idle timeout is the backstop, a little later.
    return { maxIdleTimeout: idleBackstop(limits.idleTimeout), keepAliveInterval: keepAlive }
  }
  const maxIdleTimeout = options.deadPeerTimeout
  const third = Math.max(1, Math.floor(maxIdleTimeout / 3))
  const keepAlive = limits.keepAliveInterval > 0 ? Math.min(limits.keepAliveInterval, third) : third
  return { maxIdleTimeout, keepAliveInterval: keepAlive }
}

/** QUIC's own idle timeout behind the core's `idleTimeout` (ms). */
export function idleBackstop(idleTimeout: number): number {
  return Math.ceil(idleTimeout * 1.25) + 250
}

/** Options shared by both sides: identity, flow control, stream credit, liveness. */
function common(security: SecurityContext, limits: TransportLimits, options: ResolvedQuicOptions, verify: TLSVerifyCallback) {
  const liveness = livenessOf(limits, options)
  return {
    key: security.privateKeyPem,
    cert: security.certificatePem,
    ...(security.mode === 'ca' ? { ca: [...security.ca] } : {}),
    // The library overrides native chain checks once a callback is set; the callback decides (see verify.ts).
    verifyPeer: true,
    verifyCallback: verify,
    // The message channel's version first: both sides pick it when both have it (see message-channel.ts).
    applicationProtos: options.messageChannel ? [CHANNEL_ALPN, PLAIN_ALPN] : [PLAIN_ALPN],
    maxIdleTimeout: liveness.maxIdleTimeout,
    // No `keepAliveIntervalTime`: the transport's one keep-alive timer pings quiet connections (keep-alive.ts).
    // Room for the peer's message channels besides its streams (see MAX_PEER_CHANNELS).
    initialMaxStreamsBidi: limits.maxInboundStreams + MAX_PEER_CHANNELS,
    initialMaxStreamsUni: limits.maxInboundStreams,
    initialMaxData: options.initialMaxData,
    initialMaxStreamDataBidiLocal: options.initialMaxStreamData,
    initialMaxStreamDataBidiRemote: options.initialMaxStreamData,
    initialMaxStreamDataUni: options.initialMaxStreamData,
    maxConnectionWindow: Math.max(options.maxConnectionWindow, options.initialMaxData),
    maxStreamWindow: Math.max(options.maxStreamWindow, options.initialMaxStreamData),
    // Streams copy each read out of this scratch buffer; 64 KiB takes a loopback datagram in one read.
    readableChunkSize: 64 * 1024,
    // 0-RTT data could be replayed and would skip our certificate check.
    enableEarlyData: false,
    // Streams without Web Streams (QuicStream reads and writes them directly): ~0.1 ms less per stream
    // on each side of a connect's path (quic-lib README, change 35).
    directStreams: true,
  } satisfies QUICClientConfigInput
}

/**
 * Server config, with the datagram size for non-loopback clients; each
 * accepted connection gets the size for its own path ({@link pathPayload}).
 */
export function serverConfig(
  security: SecurityContext,
  limits: TransportLimits,
  options: ResolvedQuicOptions,
  verify: TLSVerifyCallback,
): QUICServerConfigInput {
  return {
    ...common(security, limits, options, verify),
    ...pathPayload(options, false),
  }
}

/**
 * The datagram size for a path, sent and advertised: loopback-sized only on
 * loopback. Off loopback it is `maxUdpPayloadSize` whatever the peer
 * advertises: quiche sends the smaller of its limit and the peer's, and a
 * peer's large advertisement says what it accepts, not what the path
 * carries (a 16 KB datagram is IP-fragmented across a 1500-byte link, and
 * lost entirely when one fragment is). quiche 0.18 has no path MTU discovery.
 */
export function pathPayload(options: ResolvedQuicOptions, loopback: boolean): { maxSendUdpPayloadSize: number; maxRecvUdpPayloadSize: number } {
  const payload = loopback ? options.loopbackUdpPayloadSize : options.maxUdpPayloadSize
  return { maxSendUdpPayloadSize: payload, maxRecvUdpPayloadSize: payload }
}

/** Client config for a dial to `host`: large datagrams only on loopback. */
export function clientConfig(
  security: SecurityContext,
  limits: TransportLimits,
  options: ResolvedQuicOptions,
  verify: TLSVerifyCallback,
  loopback: boolean,
): QUICClientConfigInput {
  return { ...common(security, limits, options, verify), ...pathPayload(options, loopback) }
}
