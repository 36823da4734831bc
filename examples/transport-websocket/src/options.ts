/** Options of the {@link websocket} transport factory. */
export interface WebSocketOptions {
  /** Port to listen on when the node config names no `listen` addresses (default 0: any free port). */
  port?: number
  /** Host to listen on when the node config names no `listen` addresses (default `0.0.0.0`). */
  host?: string
  /**
   * HTTP path of the WebSocket endpoint (default `/crust`). Both ends must
   * agree; a reverse proxy can route on it.
   */
  path?: string
  /**
   * Largest WebSocket message accepted, in bytes (default 8 MiB). `ws`
   * buffers a whole message before handing it over, so this bounds memory
   * per connection; the muxer writes far smaller messages (about 320 KiB at
   * most), so only a misbehaving peer hits it.
   */
  maxPayload?: number
  /** Backlog of the listening sockets. */
  backlog?: number
}

/** {@link WebSocketOptions} with defaults filled in. */
export interface ResolvedOptions {
  readonly port: number
  readonly host: string
  readonly path: string
  readonly maxPayload: number
  readonly backlog: number
}

/** Fill in defaults and check `path`. */
export function resolveOptions(options: WebSocketOptions): ResolvedOptions {
  const path = options.path ?? '/crust'
  if (!path.startsWith('/')) throw new TypeError(`websocket(): path must start with "/", got "${path}"`)
  return {
    port: options.port ?? 0,
    host: options.host ?? '0.0.0.0',
    path,
    maxPayload: options.maxPayload ?? 8 * 1024 * 1024,
    backlog: options.backlog ?? 511,
  }
}
