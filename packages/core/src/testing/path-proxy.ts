/**
 * A loopback proxy that stands in for the network path between two real
 * nodes, so tests can break the path the way networks do: drop everything
 * without a FIN or a reset (a router that died, a NAT mapping that moved),
 * or lose a share of UDP datagrams.
 *
 * @packageDocumentation
 */
import dgram from 'node:dgram'
import net from 'node:net'

/** A running {@link pathProxy}. */
export interface PathProxy {
  /** The port to dial instead of the target's (on 127.0.0.1). */
  readonly port: number
  /**
   * Forward nothing from now on, and close nothing: the path is silently
   * dead. `back` drops only what the target sends (the dialer's messages
   * still arrive, their acknowledgements and answers are lost); `forward`
   * only what the dialer sends.
   */
  blackhole(direction?: 'both' | 'forward' | 'back'): void
  /** Forward again. */
  restore(): void
  /** Share (0 to 1) of UDP datagrams dropped at random, each way. TCP proxies ignore it. */
  loss: number
  /** Datagrams or chunks dropped so far. */
  readonly dropped: number
  /** Stop the proxy and close every proxied socket. */
  close(): Promise<void>
}

/**
 * A proxy on 127.0.0.1 in front of `target` (`127.0.0.1:port`): `tcp`
 * forwards each accepted connection to the target, `udp` forwards datagrams
 * (one upstream socket per client address, as a NAT would).
 */
export async function pathProxy(kind: 'tcp' | 'udp', targetPort: number): Promise<PathProxy> {
  return kind === 'tcp' ? tcpProxy(targetPort) : udpProxy(targetPort)
}

/** The state and controls both proxies share: which ways are dead, what was dropped. */
class Path implements PathProxy {
  /** Set once the proxy is bound. */
  port = 0
  loss = 0
  dropped = 0
  readonly dead = { forward: false, back: false }

  constructor(private readonly shutdown: () => Promise<void>) {}

  blackhole(direction: 'both' | 'forward' | 'back' = 'both'): void {
    this.dead.forward = direction !== 'back'
    this.dead.back = direction !== 'forward'
  }

  restore(): void {
    this.dead.forward = this.dead.back = false
  }

  close(): Promise<void> {
    return this.shutdown()
  }
}

async function tcpProxy(targetPort: number): Promise<PathProxy> {
  const sockets = new Set<net.Socket>()
  const path = new Path(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const dead = path.dead
  const pipe = (from: net.Socket, to: net.Socket, way: 'forward' | 'back'): void => {
    from.on('data', (chunk: Buffer) => {
      if (dead[way]) path.dropped++
      else to.write(chunk)
    })
    // A dead path carries no FIN or reset either: the other side learns nothing.
    const silent = (): boolean => dead.forward || dead.back
    from.on('end', () => {
      if (!silent()) to.end()
    })
    from.on('error', () => {
      if (!silent()) to.destroy()
    })
    from.on('close', () => {
      if (!silent()) to.destroy()
    })
  }
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
    }
    pipe(client, upstream, 'forward')
    pipe(upstream, client, 'back')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  path.port = (server.address() as net.AddressInfo).port
  return path
}

async function udpProxy(targetPort: number): Promise<PathProxy> {
  const outside = dgram.createSocket('udp4')
  const upstreams = new Map<string, dgram.Socket>()
  const path = new Path(async () => {
    for (const socket of upstreams.values()) socket.close()
    upstreams.clear()
    await new Promise<void>((resolve) => outside.close(() => resolve()))
  })
  const drop = (way: 'forward' | 'back'): boolean => {
    if (path.dead[way] || (path.loss > 0 && Math.random() < path.loss)) {
      path.dropped++
      return true
    }
    return false
  }
  outside.on('message', (data, client) => {
    const key = `${client.address}:${client.port}`
    let upstream = upstreams.get(key)
    if (upstream === undefined) {
      const socket = dgram.createSocket('udp4')
      socket.on('message', (reply) => {
        if (!drop('back')) outside.send(reply, client.port, client.address)
      })
      socket.on('error', () => {})
      socket.bind(0, '127.0.0.1')
      upstreams.set(key, socket)
      upstream = socket
    }
    if (!drop('forward')) upstream.send(data, targetPort, '127.0.0.1')
  })
  outside.on('error', () => {})
  await new Promise<void>((resolve) => outside.bind(0, '127.0.0.1', resolve))
  path.port = outside.address().port
  return path
}
