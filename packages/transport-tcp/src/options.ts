/** Options of the {@link tcp} transport factory. */
export interface TcpOptions {
  /** Port to listen on when the node config names no `listen` addresses (default 0: any free port). */
  port?: number
  /**
   * Host to listen on. Default: both `0.0.0.0` and `::` on the same port, so the
   * node is reachable over IPv4 and IPv6.
   */
  host?: string
  /** Backlog of the listening sockets. */
  backlog?: number
  /**
   * Control frames that may wait for a peer that does not read our replies
   * before it is disconnected with `LIMIT_REACHED` (default 4096, see `@crust/mux`).
   */
  maxQueuedControlFrames?: number
}
